"""The audit trail's writer: durable, batched, fail-closed.

``record()`` hands a prepared event to one background task that drains the queue into
transactions of up to ``batch_max`` records (waiting at most ``batch_wait_ms`` to fill one),
so concurrent requests share a commit instead of each paying for one. The caller's future
resolves only after the commit: a returned record id is on disk. If the commit fails, every
caller of that batch gets ``AuditUnavailable`` (or, with ``fail_open``, a loud log line), and
the next batch simply tries again, so the trail recovers by itself when the database does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.orm import Session

from suite.audit.chain import prepare
from suite.audit.events import AuditEvent
from suite.audit.heads import HeadLog
from suite.audit.keys import KeyRing, SigningKey, checkpoint_dir_of, key_dir_of
from suite.audit.ledger import append, checkpoint_if_due, describe_error, lock_head, sign_key_retirement
from suite.audit.retention import PurgeReport, purge
from suite.config import AuditSettings
from suite.db import Database
from suite.errors import AuditUnavailable

log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    fields: dict[str, Any]
    done: asyncio.Future[None]


@dataclass
class WriterStats:
    """Counters of the writer since start, for metrics and tests."""

    records: int = 0
    batches: int = 0
    failed_batches: int = 0
    checkpoints: int = 0
    # Times the idle writer woke and checked whether a time-based checkpoint was due.
    idle_wakeups: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditTrail:
    """The durable, chained, signed audit trail of one process."""

    def __init__(
        self,
        settings: AuditSettings,
        database: Database,
        *,
        data_dir: Path,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """clock (aware UTC) times records and checkpoints and decides when a time-based one is due;
        tests pass one they move by hand."""
        self.settings = settings
        self.database = database
        self.keys = KeyRing(key_dir_of(settings, data_dir))
        self.heads = HeadLog(checkpoint_dir_of(settings, data_dir))
        self.stats = WriterStats()
        self._clock = clock
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the background writer (and create the first signing key if there is none)."""
        if self._task is not None:
            return
        await self.database.workers.run(self.keys.current)
        self._task = asyncio.create_task(self._drain(), name="audit-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def record(self, event: AuditEvent) -> str:
        """Store one event durably and return its record id.

        Raises AuditUnavailable when it could not be committed (unless ``fail_open``), and
        ValueError for an event that can never be stored (not JSON, NUL characters).
        """
        fields = prepare(event)
        record_id: str = fields["record_id"]
        try:
            if self._task is None or self._task.done():
                raise AuditUnavailable("The audit trail is not running; the request was not processed.")
            pending = _Pending(fields, asyncio.get_running_loop().create_future())
            self._queue.put_nowait(pending)
            # If the caller is cancelled the record is still written; only the wait ends.
            await pending.done
        except AuditUnavailable:
            if not self.settings.fail_open:
                raise
            self._lost(event, record_id)
        return record_id

    def record_sync(self, event: AuditEvent) -> str:
        """Store one event in its own transaction, from synchronous code (the CLI); same errors as record()."""
        fields = prepare(event)
        try:
            with self.database.sessions.begin() as session:
                done = append(
                    session, [fields], keys=self.keys, settings=self.settings, now=self._clock(), heads=self.heads
                )
            self.stats.checkpoints += done.checkpointed
        except Exception as exc:
            log.error("audit write failed", error=describe_error(exc), records=1)
            if not self.settings.fail_open:
                raise AuditUnavailable() from exc
            self._lost(event, fields["record_id"])
        record_id: str = fields["record_id"]
        return record_id

    def checkpoint(self, *, force: bool = True, heartbeat: bool = False) -> bool:
        """Sign the current head now if records came since the last checkpoint (blocking).

        With ``heartbeat``, an unchanged head is signed again once ``checkpoint_every_s`` passed.
        """
        with self.database.sessions.begin() as session:
            now = self._clock()
            head = lock_head(session, now=now)
            return checkpoint_if_due(
                session,
                head,
                keys=self.keys,
                settings=self.settings,
                now=now,
                force=force,
                heartbeat=heartbeat,
                heads=self.heads,
            )

    def rotate_signing_key(self) -> SigningKey:
        """Sign the head with the outgoing key as its retirement, then make a new key current.

        Old public keys stay, so older checkpoints keep verifying; a checkpoint the retired key
        signs after its retirement fails verification.
        """
        with self.database.sessions.begin() as session:
            now = self._clock()
            head = lock_head(session, now=now)
            sign_key_retirement(session, head, keys=self.keys, now=now, heads=self.heads)
        return self.keys.rotate()

    def purge(self, now: datetime | None = None, *, dry_run: bool = False, actor: str = "system") -> PurgeReport:
        """Delete the expired prefix of the chain (blocking; see suite.audit.retention).

        A purge that deleted anything is itself recorded (class "admin", action "audit.purge").
        """
        report = purge(
            self.database, self.settings, self.keys, now=now or self._clock(), dry_run=dry_run, heads=self.heads
        )
        if report.purged and not dry_run:
            details = {"purged": report.purged, "through_seq": report.through_seq, "stopped_by": report.reason}
            self.record_sync(AuditEvent(event_class="admin", action="audit.purge", subject=actor, details=details))
        return report

    async def run_purges(self) -> None:
        """Purge every ``purge_interval_s`` until cancelled (the job `suite up` runs beside the writer)."""
        while True:
            await asyncio.sleep(self.settings.purge_interval_s)
            try:
                report = await self.database.workers.run(self.purge)
            except Exception as exc:
                log.error("audit purge failed", error=describe_error(exc))
                continue
            if report.purged:
                log.info("audit purge", purged=report.purged, through_seq=report.through_seq)

    def _lost(self, event: AuditEvent, record_id: str) -> None:
        # Never the content: only what identifies the lost record.
        log.error(
            "AUDIT RECORD LOST (fail-open)",
            record_id=record_id,
            event_class=event.event_class,
            action=event.action,
            request_id=event.request_id,
            subject=event.subject,
        )

    async def _drain(self) -> None:
        stopping = False
        # After the stop sentinel, whatever was queued behind it is still written before the task ends.
        while not (stopping and self._queue.empty()):
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=self.settings.checkpoint_every_s)
            except TimeoutError:
                await self._timed_checkpoint()
                self.stats.idle_wakeups += 1  # after it: a test that sees the count sees its checkpoint
                continue
            stopping = stopping or first is None
            batch, stopping = await self._fill([] if first is None else [first], stopping=stopping)
            if batch:
                await self._write(batch)

    async def _fill(self, batch: list[_Pending], *, stopping: bool) -> tuple[list[_Pending], bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_max:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            elif stopping or loop.time() >= deadline:
                break
            else:
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout=deadline - loop.time())
                except TimeoutError:
                    break
            if item is None:
                stopping = True
            else:
                batch.append(item)
        return batch, stopping

    async def _write(self, batch: list[_Pending]) -> None:
        fields = [pending.fields for pending in batch]

        def work(session: Session) -> int:
            now = self._clock()
            return append(
                session, fields, keys=self.keys, settings=self.settings, now=now, heads=self.heads
            ).checkpointed

        try:
            # One transaction for the whole batch, committed by Database.run before the callers hear back.
            checkpointed = await self.database.run(work)
        except Exception as exc:
            # Any failure means nothing of the batch is durable; the callers must not answer as if it were.
            self.stats.failed_batches += 1
            log.error("audit write failed", error=describe_error(exc), records=len(batch))
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(AuditUnavailable())
            return
        self.stats.batches += 1
        self.stats.records += len(batch)
        self.stats.checkpoints += checkpointed
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(None)

    async def _timed_checkpoint(self) -> None:
        try:
            if await self.database.workers.run(self.checkpoint, force=False, heartbeat=True):
                self.stats.checkpoints += 1
        except Exception as exc:
            log.warning("audit checkpoint failed", error=describe_error(exc))
