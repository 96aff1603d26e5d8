"""Retention: purging old records without breaking the chain, and legal holds that stop it.

A purge deletes only a prefix of the chain: from the oldest record up to the first one that
must stay (its class's retention has not run out, or a legal hold covers it). In the same
transaction it signs a ``purge_anchor`` checkpoint at the last deleted record, so the chain that
remains starts from a signed hash and still verifies. Deleting from the middle is impossible by
design: that is exactly what verification reports as tampering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from suite.audit.chain import utc
from suite.audit.heads import HeadLog
from suite.audit.keys import KeyRing
from suite.audit.ledger import lock_head, write_checkpoint
from suite.audit.tables import AuditRecordRow, LegalHoldRow
from suite.config import AuditSettings
from suite.db import Database
from suite.errors import InvalidRequest

# Records looked at (and deleted) per transaction, each ending in its own anchor.
_CHUNK = 10_000


@dataclass(frozen=True)
class LegalHold:
    """Records of a subject and/or time range (all given parts must match) kept from any purge."""

    id: int
    subject: str | None
    time_from: datetime | None
    time_to: datetime | None
    reason: str
    created_by: str
    created_at: datetime
    released_at: datetime | None

    def covers(self, *, subject: str | None, time: datetime) -> bool:
        """True when a record of this subject and time is held."""
        if self.subject is not None and subject != self.subject:
            return False
        if self.time_from is not None and time < self.time_from:
            return False
        return self.time_to is None or time <= self.time_to


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted, and where and why it stopped."""

    purged: int
    # The last deleted seq, where the purge anchor now stands.
    through_seq: int | None
    # The first record kept and why (None: the chain ended).
    stopped_at: int | None
    reason: str | None
    dry_run: bool


def _hold(row: LegalHoldRow) -> LegalHold:
    return LegalHold(
        id=row.id,
        subject=row.subject,
        time_from=utc(row.time_from) if row.time_from else None,
        time_to=utc(row.time_to) if row.time_to else None,
        reason=row.reason,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        released_at=utc(row.released_at) if row.released_at else None,
    )


class LegalHolds:
    """Add, list and release legal holds."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(
        self,
        *,
        reason: str,
        created_by: str,
        subject: str | None = None,
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        now: datetime | None = None,
    ) -> LegalHold:
        """Hold the records of a subject and/or time range (neither: every record) until released."""
        if not reason.strip():
            raise InvalidRequest("A legal hold needs a reason.", param="reason")
        if time_from is not None and time_to is not None and utc(time_from) > utc(time_to):
            raise InvalidRequest("The hold's time range ends before it starts.", param="time_to")
        row = LegalHoldRow(
            subject=subject,
            time_from=utc(time_from) if time_from else None,
            time_to=utc(time_to) if time_to else None,
            reason=reason,
            created_by=created_by,
            created_at=utc(now or datetime.now(UTC)),
            released_at=None,
        )
        with self._db.sessions.begin() as session:
            session.add(row)
            session.flush()
            return _hold(row)

    def list(self, *, include_released: bool = False) -> list[LegalHold]:
        """Holds, oldest first; active ones only unless asked."""
        query = select(LegalHoldRow).order_by(LegalHoldRow.id)
        if not include_released:
            query = query.where(LegalHoldRow.released_at.is_(None))
        with self._db.session() as session:
            return [_hold(row) for row in session.scalars(query)]

    def release(self, hold_id: int, *, now: datetime | None = None) -> LegalHold:
        """Release a hold (idempotent); InvalidRequest when there is no such hold."""
        with self._db.sessions.begin() as session:
            row = session.get(LegalHoldRow, hold_id)
            if row is None:
                raise InvalidRequest(f"No legal hold with id {hold_id}.", param="hold_id")
            row.released_at = row.released_at or utc(now or datetime.now(UTC))
            return _hold(row)


def _keep_reason(row: Any, holds: list[LegalHold], settings: AuditSettings, now: datetime) -> str | None:
    days = settings.retention_days.get(row.event_class, settings.retention_days.get("default"))
    if days is None:
        return f"record {row.seq} is kept: no retention is configured for {row.event_class}"
    time = utc(row.time)
    if time >= now - timedelta(days=days):
        return f"record {row.seq} is within retention ({row.event_class}: {days} days)"
    for hold in holds:
        if hold.covers(subject=row.subject, time=time):
            return f"record {row.seq} is under legal hold {hold.id}"
    return None


def purge(
    database: Database,
    settings: AuditSettings,
    keys: KeyRing,
    *,
    now: datetime,
    dry_run: bool = False,
    heads: HeadLog | None = None,
) -> PurgeReport:
    """Delete the expired prefix of the chain, leaving a signed purge anchor at its end."""
    now = utc(now)
    purged, through, after = 0, None, 0
    while True:
        with database.sessions.begin() as session:
            chunk = _purge_chunk(session, settings, (keys, heads), now=now, after=after, dry_run=dry_run)
        purged += chunk.count
        if chunk.last_seq is not None:
            through = after = chunk.last_seq
        if chunk.stop is not None or chunk.ended:
            stopped_at, reason = chunk.stop or (None, None)
            return PurgeReport(purged, through, stopped_at, reason, dry_run)


@dataclass(frozen=True)
class _Chunk:
    count: int
    last_seq: int | None
    # The first record kept and why.
    stop: tuple[int, str] | None
    # No records after this chunk.
    ended: bool


def _purge_chunk(
    session: Session,
    settings: AuditSettings,
    keys: tuple[KeyRing, HeadLog | None],
    *,
    now: datetime,
    after: int,
    dry_run: bool,
) -> _Chunk:
    # Under the head lock: two replicas purging at once take turns instead of racing for anchors.
    lock_head(session, now=now)
    holds = [_hold(row) for row in session.scalars(select(LegalHoldRow).where(LegalHoldRow.released_at.is_(None)))]
    columns = (AuditRecordRow.seq, AuditRecordRow.time, AuditRecordRow.event_class, AuditRecordRow.subject)
    query = select(*columns, AuditRecordRow.record_hash).where(AuditRecordRow.seq > after)
    rows = session.execute(query.order_by(AuditRecordRow.seq).limit(_CHUNK)).all()
    count, last = 0, None
    for row in rows:
        reason = _keep_reason(row, holds, settings, now)
        if reason is not None:
            return _finish(session, keys, count=count, last=last, stop=(row.seq, reason), now=now, dry_run=dry_run)
        count, last = count + 1, row
    return _finish(session, keys, count=count, last=last, stop=None, now=now, dry_run=dry_run, ended=len(rows) < _CHUNK)


def _finish(
    session: Session,
    keys: tuple[KeyRing, HeadLog | None],
    *,
    count: int,
    last: Any,
    stop: tuple[int, str] | None,
    now: datetime,
    dry_run: bool,
    ended: bool = False,
) -> _Chunk:
    if last is not None and not dry_run:
        session.execute(delete(AuditRecordRow).where(AuditRecordRow.seq <= last.seq))
        ring, heads = keys
        write_checkpoint(
            session, keys=ring, kind="purge_anchor", seq=last.seq, head_hash=last.record_hash, now=now, heads=heads
        )
    return _Chunk(count, last.seq if last is not None else None, stop, ended)
