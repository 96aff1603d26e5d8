"""Exports: the matching records with their chain fields, and the checkpoints that prove them.

JSONL (verifiable on its own, see ``verify_export``): a header line, one line per record in seq
order, then the checkpoints from just before the first record to the last. When only a time
range is given, the export is the whole stretch of the chain between the first and the last
matching record, so it is contiguous and verifies link by link; other filters give a selection,
whose records verify one by one (and those at a checkpoint are proven by it).

CSV is for reading in a spreadsheet: one row per record and per checkpoint (``type`` column),
lists and objects as JSON, and cells that a spreadsheet would evaluate as a formula prefixed
with ``'`` (OWASP's advice against CSV injection; prompts are user input). Verify the JSONL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select

from suite.audit.chain import RECORD_FIELDS, format_time, from_row
from suite.audit.filters import AuditFilters, conditions
from suite.audit.keys import KeyRing, export_end_message
from suite.audit.ledger import snapshot
from suite.audit.tables import AuditCheckpointRow, AuditRecordRow
from suite.db import Database

ExportFormat = Literal["jsonl", "csv"]
EXPORT_FORMAT = "suite-audit-export"
_CHECKPOINT_FIELDS = ("seq", "time", "head_hash", "key_id", "signature", "kind")
_CSV_COLUMNS = ("type", *RECORD_FIELDS, "head_hash", "key_id", "signature", "kind")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_lines(
    database: Database, filters: AuditFilters, *, keys: KeyRing, fmt: ExportFormat = "jsonl"
) -> Iterator[str]:
    """Lines of an export (each ending in a newline), read from one consistent snapshot.

    The last line is the signed end: the header's hash, how many records and checkpoints came,
    and the last record's seq and hash, so that lines dropped at the end fail verification.
    """
    with snapshot(database) as session:
        where = conditions(filters, dialect=database.engine.dialect.name)
        records = select(*AuditRecordRow.__table__.columns)
        contiguous = filters.time_only
        if contiguous and where:
            # "seq + 0" keeps PostgreSQL on the (time, seq) index instead of walking the primary key (see query.py).
            seq = AuditRecordRow.seq
            low, high = session.execute(select(func.min(seq + 0), func.max(seq + 0)).where(*where)).one()
            records = records.where(AuditRecordRow.seq.between(low, high)) if low is not None else records.where(*where)
        else:
            records = records.where(*where)
        header = {
            "type": "header",
            "format": EXPORT_FORMAT,
            "version": 1,
            "exported_at": format_time(datetime.now(UTC)),
            "filters": filters.describe(),
            "contiguous": contiguous,
        }
        header_line = _json_line(header)
        if fmt == "jsonl":
            yield header_line
        else:
            yield _csv_line(_CSV_COLUMNS)
        first: int | None = None
        last: int | None = None
        last_hash: str | None = None
        count = 0
        checkpoint_count = 0
        result = session.execute(records.order_by(AuditRecordRow.seq).execution_options(yield_per=1000))
        try:
            for row in result:
                fields = from_row(row._mapping)
                first = fields["seq"] if first is None else first
                last, last_hash = fields["seq"], fields["record_hash"]
                count += 1
                yield _json_line({"type": "record", **fields}) if fmt == "jsonl" else _csv_record(fields)
        finally:
            result.close()  # also when the reader stops early: no server-side cursor outlives the session
        if first is not None and last is not None:
            checkpoints = select(AuditCheckpointRow).where(AuditCheckpointRow.seq.between(first - 1, last))
            for checkpoint in session.scalars(checkpoints.order_by(AuditCheckpointRow.seq, AuditCheckpointRow.id)):
                item = {name: getattr(checkpoint, name) for name in _CHECKPOINT_FIELDS}
                item["time"] = format_time(checkpoint.time)
                checkpoint_count += 1
                yield _json_line({"type": "checkpoint", **item}) if fmt == "jsonl" else _csv_checkpoint(item)
    end = {
        "header_sha256": hashlib.sha256(header_line.encode()).hexdigest(),
        "records": count,
        "checkpoints": checkpoint_count,
        "last_seq": last,
        "last_hash": last_hash,
    }
    key = keys.current()
    signature = key.sign(export_end_message(end))
    if fmt == "jsonl":
        yield _json_line({"type": "end", **end, "key_id": key.key_id, "signature": signature})
    else:
        end_row: dict[str, str] = {
            "type": "end",
            "seq": _cell(last),
            "record_hash": last_hash or "",
            "key_id": key.key_id,
        }
        end_row |= {"signature": signature, "details": _cell(end)}
        yield _csv_line([end_row.get(column, "") for column in _CSV_COLUMNS])


def _json_line(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def _csv_line(values: tuple[str, ...] | list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_record(fields: dict[str, Any]) -> str:
    return _csv_line(["record", *(_cell(fields[name]) for name in RECORD_FIELDS), "", "", "", ""])


def _csv_checkpoint(item: dict[str, Any]) -> str:
    values = {"type": "checkpoint", **{name: _cell(value) for name, value in item.items()}}
    return _csv_line([values.get(column, "") for column in _CSV_COLUMNS])
