"""Quota counters in memory, and the statements that reconcile them with the database.

Each counter (subject, kind, window) holds three amounts: what the database said at the last sync
or load (``stored``), what a flush has sent and not yet settled (``sent``), and what was counted
here since (``unsent``). Only the event loop touches the counters; the database work runs in
worker threads on plain values and is settled back on the loop.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from suite.auth.tables import QuotaCounterRow
from suite.db import Database

# Fixed windows: the current minute for requests, the current UTC day for tokens.
WINDOW_S = {"requests": 60, "tokens": 86_400}
# A counter with nothing left to send is dropped this long after its window ended (long enough that
# no admission still holds it), or after this long without use (its next use reloads it).
_ENDED_GRACE_S = 60
_IDLE_S = 300
# Rows per upsert statement, well inside PostgreSQL's 65,535 bind parameters.
_ROWS_PER_STATEMENT = 1000


class CounterKey(NamedTuple):
    subject: str
    kind: str  # "requests" | "tokens"
    window_start: int  # unix seconds


def window_key(subject: str, kind: str, now: float) -> CounterKey:
    """The key of the window of this kind that contains now."""
    length = WINDOW_S[kind]
    return CounterKey(subject, kind, int(now // length * length))


@dataclass
class Counter:
    stored: int = 0
    sent: int = 0
    unsent: int = 0
    # stored came from the database (a counter started by a token charge has not been read yet).
    known: bool = False
    touched: float = 0.0

    @property
    def used(self) -> int:
        return self.stored + self.sent + self.unsent

    def observe(self, total: int) -> None:
        # Counts in the database only grow within a window, so of two readings the larger is the newer;
        # this keeps a slow read from setting the counter back.
        self.stored = max(self.stored, total)
        self.known = True


@dataclass
class Batch:
    """One flush: the deltas to add, and the other live counters whose shared totals to read back."""

    deltas: dict[CounterKey, int] = field(default_factory=dict)
    refresh: list[CounterKey] = field(default_factory=list)


class Counters:
    """Every counter this process holds."""

    def __init__(self) -> None:
        self._counters: dict[CounterKey, Counter] = {}

    def unknown(self, keys: Collection[CounterKey]) -> list[CounterKey]:
        """The keys whose stored count has not been read from the database yet."""
        return [key for key in keys if key not in self._counters or not self._counters[key].known]

    def touch(self, key: CounterKey, now: float) -> Counter:
        counter = self._counters.setdefault(key, Counter())
        counter.touched = now
        return counter

    def observe(self, key: CounterKey, total: int, now: float) -> None:
        self.touch(key, now).observe(total)

    def take_batch(self, now: float) -> Batch:
        """Move what is unsent into a batch; drop counters that can no longer matter."""
        batch = Batch()
        for key, counter in list(self._counters.items()):
            ended = key.window_start + WINDOW_S[key.kind]
            if counter.unsent:
                batch.deltas[key] = counter.unsent
                counter.sent += counter.unsent
                counter.unsent = 0
            elif counter.sent == 0 and (now > ended + _ENDED_GRACE_S or now > counter.touched + _IDLE_S):
                del self._counters[key]
            elif counter.known and now < ended:
                batch.refresh.append(key)
        return batch

    def settle(self, batch: Batch, totals: dict[CounterKey, int] | None) -> None:
        """Take a flush's outcome: the new totals, or None when it failed (its deltas are queued again)."""
        for key, delta in batch.deltas.items():
            counter = self._counters[key]  # never dropped while it has counts in flight
            counter.sent -= delta
            if totals is None:
                counter.unsent += delta
            else:
                counter.observe(totals[key])
        if totals is None:
            return
        for key in batch.refresh:
            if key in self._counters:
                self._counters[key].observe(totals.get(key, 0))

    def unsent(self) -> dict[str, int]:
        """Counts not yet in the database, per kind (for the log when they cannot be saved)."""
        amounts: dict[str, int] = {}
        for key, counter in self._counters.items():
            if counter.unsent or counter.sent:
                amounts[key.kind] = amounts.get(key.kind, 0) + counter.unsent + counter.sent
        return amounts


def read_counts(database: Database, keys: Collection[CounterKey]) -> dict[CounterKey, int]:
    """The stored counts of these keys: a read only, closed with a rollback (no commit, no flush to disk)."""
    with database.engine.connect() as connection:
        return _select(connection, keys)


def write_counts(session: Session, batch: Batch) -> dict[CounterKey, int]:
    """Add the batch's deltas (atomic upserts) and return the new totals, with those of the refresh keys."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Sorted, so that replicas upserting the same rows lock them in the same order (no deadlock).
    rows = [
        {"subject": key.subject, "kind": key.kind, "window_start": key.window_start, "used": delta}
        for key, delta in sorted(batch.deltas.items())
    ]
    totals: dict[CounterKey, int] = {}
    for first in range(0, len(rows), _ROWS_PER_STATEMENT):
        values = insert(QuotaCounterRow).values(rows[first : first + _ROWS_PER_STATEMENT])
        upsert = values.on_conflict_do_update(
            index_elements=["subject", "kind", "window_start"],
            set_={"used": QuotaCounterRow.used + values.excluded.used},
        ).returning(QuotaCounterRow.subject, QuotaCounterRow.kind, QuotaCounterRow.window_start, QuotaCounterRow.used)
        for subject, kind, window_start, used in session.execute(upsert):
            totals[CounterKey(subject, kind, window_start)] = used
    if batch.refresh:
        totals.update(_select(session, batch.refresh))
    return totals


def _select(executor: Session | Connection, keys: Collection[CounterKey]) -> dict[CounterKey, int]:
    wanted = set(keys)
    statement = select(
        QuotaCounterRow.subject, QuotaCounterRow.kind, QuotaCounterRow.window_start, QuotaCounterRow.used
    ).where(
        QuotaCounterRow.subject.in_(sorted({key.subject for key in wanted})),
        QuotaCounterRow.window_start.in_(sorted({key.window_start for key in wanted})),
    )
    totals: dict[CounterKey, int] = {}
    for subject, kind, window_start, used in executor.execute(statement):
        key = CounterKey(subject, kind, window_start)
        if key in wanted:
            totals[key] = used
    return totals
