"""Forwarding the committed trail to SIEMs: one cursor per destination, tailing ``audit_records``.

The database is the queue: a forwarder reads the records after its destination's cursor in seq
order, sends them, and moves the cursor in the same transaction, so nothing is lost while a SIEM is
down (the records wait in the trail, and the forwarder resumes from its cursor after a restart)
and nothing is sent that was not committed. The writer never waits on a SIEM.

Signed heads (the checkpoints) follow the same way, from a second cursor of the destination (the
last checkpoint id sent): each goes out as a message of its own once the records it covers have
been sent, so the SIEM keeps a copy of every head that a database administrator cannot take back.

A batch is sent before its cursor moves: a crash between the two sends it again (at least once;
the seq in every message lets the SIEM drop duplicates). On PostgreSQL the cursor row is locked
(``FOR UPDATE SKIP LOCKED``) while its batch is sent, so of several gateway replicas exactly one
forwards a destination at a time. Each destination has its own thread, so a stalled SIEM holds up
neither the others nor the audit writer.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from suite.audit.chain import format_time, from_row
from suite.audit.ledger import describe_error, dialect_of
from suite.audit.siem.tables import SiemCursorRow
from suite.audit.siem.transports import Transport, transport_for
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.config import SiemDestination, SiemSettings
from suite.db import Database

log = structlog.get_logger(__name__)
_ALERT_EVERY_S = 60.0


@dataclass
class DestinationState:
    """What a destination's forwarder knows, for logs, health and the CLI."""

    name: str
    cursor: int | None = None  # the last seq sent (None: not read yet)
    backlog: int = 0  # records committed after the cursor
    forwarded: int = 0  # records sent since this process started
    heads_forwarded: int = 0  # signed heads (checkpoints) sent since this process started
    over_bound: bool = False  # backlog above audit.siem.max_backlog
    last_error: str | None = None


@dataclass(frozen=True)
class ForwardReport:
    """The outcome of one catch-up run for one destination."""

    destination: str
    forwarded: int
    cursor: int | None
    backlog: int
    error: str | None
    heads: int = 0  # signed heads sent


@dataclass
class _Link:
    destination: SiemDestination
    transport: Transport
    state: DestinationState
    executor: ThreadPoolExecutor
    alerted_at: float = field(default=-_ALERT_EVERY_S)
    task: asyncio.Task[None] | None = None


class SiemForwarder:
    """Forwards the trail to every configured destination, in the background or on demand."""

    def __init__(self, settings: SiemSettings, database: Database, *, data_dir: Path) -> None:
        self.settings = settings
        self._db = database
        self._links = {
            d.name: _Link(
                destination=d,
                transport=transport_for(d, data_dir=data_dir),
                state=DestinationState(d.name),
                executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"siem-{d.name}"),
            )
            for d in settings.destinations
        }

    @property
    def states(self) -> dict[str, DestinationState]:
        """Each destination's state, by name."""
        return {name: link.state for name, link in self._links.items()}

    async def start(self) -> None:
        """Start one forwarding task per destination (nothing when none is configured)."""
        for link in self._links.values():
            if link.task is None:
                link.task = asyncio.create_task(self._run(link), name=f"siem-{link.state.name}")

    async def stop(self) -> None:
        """Stop for good; a batch in flight finishes (bounded by its timeout) before its connection closes."""
        links = [link for link in self._links.values() if link.task is not None]
        for link in links:
            assert link.task is not None
            link.task.cancel()
        await asyncio.gather(*(link.task for link in links if link.task), return_exceptions=True)
        loop = asyncio.get_running_loop()
        for link in self._links.values():
            link.task = None
            await loop.run_in_executor(link.executor, link.transport.close)
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Release the threads and connections (after stop, or after catch_up in a command)."""
        for link in self._links.values():
            link.executor.shutdown(wait=True)
            link.transport.close()

    def catch_up(self, names: list[str] | None = None) -> list[ForwardReport]:
        """Forward, blocking, until each destination has nothing left or fails (`suite audit forward --once`)."""
        reports = []
        for link in self._selected(names):
            before, heads_before, error = link.state.forwarded, link.state.heads_forwarded, None
            try:
                while True:
                    sent = self._batch(link)
                    if sent is None:
                        error = "another process is forwarding this destination right now"
                    if not sent or sent < self.settings.batch_size:
                        break
            except Exception as exc:  # reported to the operator; the cursor stays where it was
                error = describe_error(exc)
            finally:
                link.transport.close()
            state = link.state
            heads = state.heads_forwarded - heads_before
            reports.append(
                ForwardReport(state.name, state.forwarded - before, state.cursor, state.backlog, error, heads)
            )
        return reports

    def rewind(self, to_seq: int, names: list[str] | None = None) -> None:
        """Make the next forwarding start at seq to_seq again (a replay after a SIEM lost data)."""
        with self._db.sessions.begin() as session:
            for link in self._selected(names):
                row = session.get(SiemCursorRow, link.state.name) or self._new_cursor(session, link.state.name)
                row.seq, row.updated_at = max(to_seq - 1, 0), datetime.now(UTC)
                # The heads from to_seq on go again too.
                first_head = session.scalar(
                    select(func.min(AuditCheckpointRow.id)).where(AuditCheckpointRow.seq >= to_seq)
                )
                if first_head is not None:
                    row.checkpoint_id = min(row.checkpoint_id or 0, first_head - 1)
                link.state.cursor = row.seq

    def _selected(self, names: list[str] | None) -> list[_Link]:
        unknown = set(names or ()) - set(self._links)
        if unknown:
            raise KeyError(f"no audit.siem destination named {', '.join(sorted(unknown))}")
        return [link for name, link in self._links.items() if names is None or name in names]

    async def _run(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        delay = self.settings.retry_initial_s
        while True:
            try:
                sent = await loop.run_in_executor(link.executor, self._batch, link)
            except Exception as exc:  # any failure (network, TLS, database): retry later; the records wait
                link.state.last_error = describe_error(exc)
                log.warning(
                    "siem forwarding failed",
                    destination=link.state.name,
                    error=link.state.last_error,
                    retry_in_s=delay,
                    backlog=link.state.backlog,
                )
                await loop.run_in_executor(link.executor, link.transport.close)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            if link.state.last_error is not None:
                log.info("siem forwarding resumed", destination=link.state.name, cursor=link.state.cursor)
                link.state.last_error = None
            delay = self.settings.retry_initial_s
            if not sent or sent < self.settings.batch_size:
                await asyncio.sleep(self.settings.poll_interval_s)

    def _batch(self, link: _Link) -> int | None:
        """Send the next batch and move the cursor; the number sent, or None when another replica holds it."""
        with self._db.sessions.begin() as session:
            cursor = self._lock_cursor(session, link.state.name)
            if cursor is None:
                return None
            head = session.scalar(select(AuditChainHeadRow.seq)) or 0
            link.state.cursor, link.state.backlog = cursor.seq, max(head - cursor.seq, 0)
            self._check_bound(link)
            records: list[dict[str, Any]] = []
            if link.transport.heads_only:
                cursor.seq = max(head, cursor.seq)  # a witness takes no records: only their heads
            else:
                query = select(*AuditRecordRow.__table__.columns).where(AuditRecordRow.seq > cursor.seq)
                rows = session.execute(query.order_by(AuditRecordRow.seq).limit(self.settings.batch_size)).all()
                records = [from_row(row._mapping) for row in rows]
            if records:
                if records[0]["seq"] > cursor.seq + 1:
                    # Retention purged them before they could be sent (the SIEM was away past retention_days).
                    log.error(
                        "SIEM GAP: audit records were purged before they were forwarded",
                        destination=link.state.name,
                        first_missing=cursor.seq + 1,
                        last_missing=records[0]["seq"] - 1,
                    )
                link.transport.send(records)
                cursor.seq, cursor.updated_at = records[-1]["seq"], datetime.now(UTC)
            heads = self._heads_after(session, cursor)
            if heads:
                link.transport.send_heads([item for _, item in heads])
                cursor.checkpoint_id, cursor.updated_at = heads[-1][0], datetime.now(UTC)
        link.state.cursor, link.state.forwarded = cursor.seq, link.state.forwarded + len(records)
        link.state.heads_forwarded += len(heads)
        link.state.backlog = max(head - cursor.seq, 0)
        return len(records) + len(heads)

    def _heads_after(self, session: Session, cursor: SiemCursorRow) -> list[tuple[int, dict[str, object]]]:
        """The checkpoints after the head cursor, in signing order, up to the first whose records wait.

        A prefix by id, never a selection: a purge anchor signs an older seq after newer heads, and
        skipping ahead of a head not yet due would move the cursor past it for good.
        """
        query = select(AuditCheckpointRow).where(AuditCheckpointRow.id > (cursor.checkpoint_id or 0))
        due: list[tuple[int, dict[str, object]]] = []
        for row in session.scalars(query.order_by(AuditCheckpointRow.id).limit(self.settings.batch_size)):
            if row.seq > cursor.seq:
                break  # the records it covers go first
            item = {"seq": row.seq, "time": format_time(row.time), "head_hash": row.head_hash}
            due.append((row.id, item | {"key_id": row.key_id, "signature": row.signature, "kind": row.kind}))
        return due

    def _lock_cursor(self, session: Session, name: str) -> SiemCursorRow | None:
        query = select(SiemCursorRow).where(SiemCursorRow.destination == name).with_for_update(skip_locked=True)
        row = session.scalar(query)
        if row is not None:
            return row
        if session.scalar(select(func.count()).where(SiemCursorRow.destination == name)):
            return None  # it exists, so another replica holds its lock
        self._new_cursor(session, name)
        return session.scalar(query.execution_options(populate_existing=True))

    def _new_cursor(self, session: Session, name: str) -> SiemCursorRow:
        start = 0 if self.settings.start == "beginning" else session.scalar(select(AuditChainHeadRow.seq)) or 0
        insert_into = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
        # "now": the heads signed from now on; "beginning": every head kept.
        newest = session.scalar(select(func.max(AuditCheckpointRow.id))) if self.settings.start == "now" else None
        values = {"destination": name, "seq": start, "checkpoint_id": newest, "updated_at": datetime.now(UTC)}
        # Two replicas may create it at once: the second insert does nothing.
        session.execute(insert_into(SiemCursorRow).values(values).on_conflict_do_nothing())
        row = session.get(SiemCursorRow, name)
        assert row is not None
        return row

    def _check_bound(self, link: _Link) -> None:
        state = link.state
        if state.backlog <= self.settings.max_backlog:
            if state.over_bound:
                log.info("siem backlog back within its bound", destination=state.name, backlog=state.backlog)
            state.over_bound = False
            return
        state.over_bound = True
        now = time.monotonic()
        if now - link.alerted_at >= _ALERT_EVERY_S:
            link.alerted_at = now
            # Loud, never silent: nothing is dropped, but the SIEM is falling behind the trail.
            log.error(
                "SIEM BACKLOG OVER BOUND: records wait in the audit trail",
                destination=state.name,
                backlog=state.backlog,
                max_backlog=self.settings.max_backlog,
                cursor=state.cursor,
                last_error=state.last_error,
            )
