"""Quotas: requests per minute and tokens per UTC day, per principal, decided in memory.

Admission costs no database round trip: each gateway keeps its counters in memory (the
total the database had at the last sync plus what it counted since), and a background task
reconciles them with the database every ``quotas.sync_interval_s`` in one transaction that
adds this replica's deltas and reads back the shared totals. So counts survive a restart
(the lifespan flushes on shutdown; a crash loses at most one interval) and replicas on one
PostgreSQL converge within an interval: a limit may be overshot by what the other replicas
admitted before their counts arrived. Windows are fixed (the current minute, the UTC day).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from suite.auth.principal import Principal
from suite.auth.quota_counters import WINDOW_S, CounterKey, Counters, read_counts, window_key, write_counts
from suite.auth.tables import QuotaCounterRow
from suite.config import QuotaLimits, QuotaSettings
from suite.db import Database
from suite.errors import QuotaExceeded

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class QuotaStanding:
    """A principal's limits (None: unlimited) and what is used of them in the current windows."""

    enabled: bool
    tokens_per_day: int | None
    tokens_today: int
    requests_per_minute: int | None
    requests_this_minute: int

    @property
    def tokens_left(self) -> int | None:
        return None if self.tokens_per_day is None else max(0, self.tokens_per_day - self.tokens_today)


class QuotaEnforcer:
    """Admits requests within a principal's limits and charges the tokens they used.

    ``start`` runs the background sync with the database; ``stop`` ends it and saves what is left.
    """

    def __init__(self, settings: QuotaSettings, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._db = database
        self._clock = clock
        self._counters = Counters()
        # Reads in progress, so that a burst of first requests loads a counter once.
        self._loading: dict[CounterKey, asyncio.Future[None]] = {}
        self._flushing = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._sync: asyncio.Task[None] | None = None
        self._failed_syncs = 0

    def limits_for(self, principal: Principal) -> QuotaLimits:
        """Subject entry, else the most generous of the principal's roles, else the default."""
        if principal.subject in self._settings.subjects:
            return self._settings.subjects[principal.subject]
        by_role = [self._settings.roles[r] for r in principal.roles if r in self._settings.roles]
        if not by_role:
            return self._settings.default
        return QuotaLimits(
            requests_per_minute=_most_generous([q.requests_per_minute for q in by_role]),
            tokens_per_day=_most_generous([q.tokens_per_day for q in by_role]),
        )

    async def admit(self, principal: Principal) -> None:
        """Count one request; QuotaExceeded with the seconds until the window resets if over a limit.

        Decided from memory; only a subject's first request in a window reads its stored count.
        A refused request still counts toward its minute.
        """
        if not self._settings.enabled:
            return
        limits = self.limits_for(principal)
        day_limit, minute_limit = limits.tokens_per_day, limits.requests_per_minute
        now = self._clock()
        tokens = window_key(principal.subject, "tokens", now)
        requests = window_key(principal.subject, "requests", now)
        limited = [key for key, limit in ((tokens, day_limit), (requests, minute_limit)) if limit is not None]
        if missing := self._counters.unknown(limited):
            await self._load(missing)
        if day_limit is not None and self._counters.touch(tokens, now).used >= day_limit:
            raise _exceeded(f"the daily token quota of {day_limit}", tokens, now)
        if minute_limit is not None:
            counter = self._counters.touch(requests, now)
            counter.unsent += 1
            if counter.used > minute_limit:
                raise _exceeded(f"the limit of {minute_limit} requests per minute", requests, now)

    async def standing(self, principal: Principal) -> QuotaStanding:
        """The principal's limits and current use (counts no request; reads stored counts it does not hold)."""
        if not self._settings.enabled:
            return QuotaStanding(False, None, 0, None, 0)
        limits = self.limits_for(principal)
        now = self._clock()
        tokens = window_key(principal.subject, "tokens", now)
        requests = window_key(principal.subject, "requests", now)
        if missing := self._counters.unknown([tokens, requests]):
            await self._load(missing)
        return QuotaStanding(
            True,
            limits.tokens_per_day,
            self._counters.touch(tokens, now).used,
            limits.requests_per_minute,
            self._counters.touch(requests, now).used,
        )

    async def charge_tokens(self, principal: Principal, tokens: int) -> None:
        """Add tokens to the principal's count for today (saved with the next sync)."""
        if not self._settings.enabled or tokens <= 0:
            return
        now = self._clock()
        self._counters.touch(window_key(principal.subject, "tokens", now), now).unsent += tokens

    async def prune(self) -> int:
        """Delete the stored windows that can no longer matter; the number of rows deleted.

        A window is kept for one more window after it ended (a replica may still be flushing into
        it), so the table holds at most about three windows of each kind per active subject.
        """
        now = int(self._clock())

        def work(session: Session) -> int:
            deleted = 0
            for kind, length in WINDOW_S.items():
                cutoff = now - 2 * length
                statement = delete(QuotaCounterRow).where(
                    QuotaCounterRow.kind == kind, QuotaCounterRow.window_start < cutoff
                )
                result = cast(CursorResult[Any], session.execute(statement))
                deleted += result.rowcount
            return deleted

        return await self._db.run(work)

    async def run_prunes(self) -> None:
        """Prune every ``prune_interval_s`` until cancelled (the job the gateway runs beside the audit purges)."""
        while True:
            await asyncio.sleep(self._settings.prune_interval_s)
            try:
                deleted = await self.prune()
            # Any failure: the job must live on; the next interval tries again.
            except Exception as exc:
                log.error("quota prune failed", error=str(exc))
                continue
            if deleted:
                log.info("quota windows pruned", deleted=deleted)

    async def start(self) -> None:
        """Start the background sync, every ``sync_interval_s``; nothing to do when quotas are off."""
        if self._settings.enabled and self._sync is None:
            self._stopping.clear()
            self._sync = asyncio.create_task(self._run(), name="quota-sync")

    async def stop(self) -> None:
        """End the background sync and save the counts not yet saved (logged as lost if that fails)."""
        self._stopping.set()
        if self._sync is not None:
            await self._sync  # it finishes the flush under way, never cut in the middle
            self._sync = None
        try:
            await self.flush()
        except Exception:
            log.exception("quota counts lost at shutdown: the database did not take them", lost=self._counters.unsent())

    async def flush(self) -> None:
        """Save the counts made here since the last flush and read back the shared totals, in one transaction.

        If the database fails, the counts stay queued for the next flush and its error is raised.
        """
        async with self._flushing:
            batch = self._counters.take_batch(self._clock())
            if batch.deltas:
                work = asyncio.ensure_future(self._db.run(lambda session: write_counts(session, batch)))
            elif batch.refresh:  # nothing to add: a read, without a commit
                work = asyncio.ensure_future(self._db.workers.run(read_counts, self._db, batch.refresh))
            else:
                return

            def settle(done: asyncio.Future[dict[CounterKey, int]]) -> None:
                failed = done.cancelled() or done.exception() is not None
                self._counters.settle(batch, None if failed else done.result())

            # Settled when the transaction ends, even if this caller is cancelled meanwhile: so a count
            # is neither lost nor sent twice.
            work.add_done_callback(settle)
            await asyncio.shield(work)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.sync_interval_s)
            if self._stopping.is_set():
                return  # stop() flushes once more
            try:
                await self.flush()
            # Any failure: this loop must live on, or counts would quietly stop being saved.
            except Exception:
                self._failed_syncs += 1
                log.error(
                    "quota counts not saved: kept in memory, retrying every interval",
                    unsaved=self._counters.unsent(),
                    failed_syncs=self._failed_syncs,
                    exc_info=self._failed_syncs == 1,  # the traceback once, not every second
                )
            else:
                if self._failed_syncs:
                    log.warning("quota counts saved again", after_failed_syncs=self._failed_syncs)
                    self._failed_syncs = 0

    async def _load(self, keys: list[CounterKey]) -> None:
        waiting = {self._loading[key] for key in keys if key in self._loading}
        new = [key for key in keys if key not in self._loading]
        if new:
            read = asyncio.ensure_future(self._read(new))
            for key in new:
                self._loading[key] = read

            def done(_: asyncio.Future[None]) -> None:
                for key in new:
                    self._loading.pop(key, None)

            read.add_done_callback(done)
            waiting.add(read)
        # Shielded: one caller going away must not cancel the read that others wait for.
        await asyncio.gather(*(asyncio.shield(read) for read in waiting))

    async def _read(self, keys: list[CounterKey]) -> None:
        totals = await self._db.workers.run(read_counts, self._db, keys)
        now = self._clock()
        for key in keys:
            self._counters.observe(key, totals.get(key, 0), now)


def _exceeded(what: str, key: CounterKey, now: float) -> QuotaExceeded:
    retry_after = key.window_start + WINDOW_S[key.kind] - now
    return QuotaExceeded(f"You have used {what}; try again later.", retry_after_s=max(1, math.ceil(retry_after)))


def _most_generous(limits: list[int | None]) -> int | None:
    return None if any(limit is None for limit in limits) else max(limit for limit in limits if limit is not None)
