"""Searching the trail: filters, keyset pagination on seq with an opaque cursor, single records."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from suite.audit.chain import RECORD_FIELDS, utc
from suite.audit.events import AuditEvent
from suite.audit.export import ExportFormat, export_lines
from suite.audit.filters import AuditFilters, conditions
from suite.audit.keys import KeyRing
from suite.audit.tables import AuditRecordRow
from suite.db import Database
from suite.errors import InvalidRequest

MAX_PAGE = 1000


class AuditRecord(AuditEvent):
    """A stored record: the event plus its place in the chain."""

    seq: int
    record_id: str
    prev_hash: str
    record_hash: str


@dataclass(frozen=True)
class AuditPage:
    """One page of results, newest first; next_cursor continues after the last one."""

    records: list[AuditRecord]
    next_cursor: str | None


def to_record(row: Mapping[Any, Any]) -> AuditRecord:
    """A row mapping of audit_records as an AuditRecord."""
    # Not validated: a record someone tampered with (a status outside the Literal, say) must
    # still be shown to the investigator rather than break the search.
    return AuditRecord.model_construct(**{name: row[name] for name in RECORD_FIELDS} | {"time": utc(row["time"])})


def encode_cursor(seq: int) -> str:
    """An opaque cursor for the page that continues before seq."""
    return base64.urlsafe_b64encode(json.dumps({"before": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor continues before; InvalidRequest for anything that is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq = data["before"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequest("Invalid cursor.", param="cursor") from None
    if not isinstance(seq, int):
        raise InvalidRequest("Invalid cursor.", param="cursor")
    return seq


class AuditQuery:
    """Read access to the trail (recording the access is the caller's job: it knows who asks)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def statement(self, filters: AuditFilters) -> Select[Any]:
        """SELECT of every column of the matching records, without order."""
        where = conditions(filters, dialect=self._db.engine.dialect.name)
        return select(*AuditRecordRow.__table__.columns).where(*where)

    def search(self, filters: AuditFilters | None = None, *, cursor: str | None = None, limit: int = 50) -> AuditPage:
        """A page of matching records, newest first; pass next_cursor back for the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}.", param="limit")
        filters = filters or AuditFilters()
        seq = AuditRecordRow.seq
        where = conditions(filters, dialect=self._db.engine.dialect.name) + self._seq_bounds(filters)
        if cursor is not None:
            where.append(seq < decode_cursor(cursor))
        # The page's seqs first, then only those rows: finding them reads the narrow (column, seq)
        # indexes where it can, and the wide rows (prompt, answer) are fetched for the page alone.
        page = select(seq).where(*where).order_by(seq.desc()).limit(limit + 1)
        query = select(*AuditRecordRow.__table__.columns).where(seq.in_(page.scalar_subquery())).order_by(seq.desc())
        with self._db.session() as session:
            rows = [to_record(row._mapping) for row in session.execute(query)]
        more = len(rows) > limit
        records = rows[:limit]
        return AuditPage(records, encode_cursor(records[-1].seq) if more else None)

    def _seq_bounds(self, filters: AuditFilters) -> list[ColumnElement[bool]]:
        """For a range with an end: the smallest and largest seq in it (redundant, so always exact).

        Records are chained in about the order of their times, but the planner cannot know that: for
        a page of an old day it walks seq backwards from the newest record, filtering out everything
        after that day (about a second on 1M records). Two index-only scans of the day's entries in
        the (time, seq) index bound that walk to the day instead. A range open at the end needs none:
        it ends at the newest records, where the walk starts.
        """
        if filters.time_to is None:
            return []
        in_range = conditions(
            AuditFilters(time_from=filters.time_from, time_to=filters.time_to), dialect=self._db.engine.dialect.name
        )
        seq = AuditRecordRow.seq
        # "seq + 0": as plain min(seq), PostgreSQL would take the first seq by the primary key that
        # passes the filter, which is the very walk this avoids; min(seq + 0) reads the range's entries.
        low = select(func.min(seq + 0)).where(*in_range).scalar_subquery()
        high = select(func.max(seq + 0)).where(*in_range).scalar_subquery()
        return [seq.between(low, high)]

    def get(self, record_id: str) -> AuditRecord | None:
        """One record by its id, or None."""
        query = select(*AuditRecordRow.__table__.columns).where(AuditRecordRow.record_id == record_id)
        with self._db.session() as session:
            row = session.execute(query).first()
        return to_record(row._mapping) if row is not None else None

    def export(
        self, filters: AuditFilters | None = None, *, keys: KeyRing, fmt: ExportFormat = "jsonl"
    ) -> Iterator[str]:
        """The matching records with their chain fields and the checkpoints among them, line by line,
        ending in a line signed with the current key of keys (the export proves its own end)."""
        return export_lines(self._db, filters or AuditFilters(), keys=keys, fmt=fmt)
