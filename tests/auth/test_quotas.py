"""Quotas: requests per minute and tokens per day, decided in memory, saved to SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import event, select
from structlog.testing import capture_logs

from suite.auth import Principal, QuotaEnforcer
from suite.auth.tables import QuotaCounterRow
from suite.config import QuotaSettings
from suite.db import Database
from suite.errors import QuotaExceeded

ALICE = Principal("alice", "Alice", "oidc_bearer", frozenset({"employee"}))
ADAM = Principal("adam", "Adam", "oidc_bearer", frozenset({"employee", "admin"}))
BOB = Principal("bob", "Bob", "oidc_bearer", frozenset({"employee"}))

SETTINGS = QuotaSettings(
    default={"requests_per_minute": 3, "tokens_per_day": 100},
    roles={"admin": {"requests_per_minute": 10, "tokens_per_day": None}},
    subjects={"carol": {"requests_per_minute": 1}},
)
# Half past a minute (2030-01-01 00:00:30 UTC): no test straddles a window, however slow the machine.
NOW = 1_893_456_030.0


def clock() -> float:
    return NOW


def enforcer(database: Database, settings: QuotaSettings = SETTINGS) -> QuotaEnforcer:
    return QuotaEnforcer(settings, database, clock=clock)


def stored(database: Database, subject: str, kind: str) -> int:
    """What the database holds for the subject's current window of this kind."""
    window = int(NOW // 60 * 60) if kind == "requests" else int(NOW // 86_400 * 86_400)
    with database.session() as session:
        used = session.scalar(
            select(QuotaCounterRow.used).where(
                QuotaCounterRow.subject == subject, QuotaCounterRow.kind == kind, QuotaCounterRow.window_start == window
            )
        )
    return used or 0


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # 20 s at most
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not reached within 20 s")


@contextlib.contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement and commit the database sees meanwhile."""
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    def on_commit(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(database.engine, "before_cursor_execute", on_statement)
    event.listen(database.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", on_statement)
        event.remove(database.engine, "commit", on_commit)


@contextlib.contextmanager
def database_gone(database: Database) -> Iterator[None]:
    """Every statement fails as if the database server were down (injected at the driver boundary)."""

    def fail(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        raise sqlalchemy.exc.OperationalError(statement, parameters, ConnectionError("database gone"))

    event.listen(database.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(database.engine, "before_cursor_execute", fail)


async def test_requests_per_minute(database: Database) -> None:
    quotas = enforcer(database)
    for _ in range(3):
        await quotas.admit(ALICE)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.admit(ALICE)
    assert caught.value.retry_after_s == 30
    assert "3 requests per minute" in caught.value.message
    await quotas.admit(ADAM)  # someone else's counter
    await quotas.flush()
    assert stored(database, "alice", "requests") == 4  # a refused request still counts toward its minute
    assert stored(database, "adam", "requests") == 1


async def test_tokens_per_day(database: Database) -> None:
    quotas = enforcer(database, QuotaSettings(default={"tokens_per_day": 100}))
    await quotas.admit(ALICE)
    await quotas.charge_tokens(ALICE, 60)
    await quotas.admit(ALICE)
    await quotas.charge_tokens(ALICE, 60)
    with pytest.raises(QuotaExceeded, match="daily token quota of 100") as caught:
        await quotas.admit(ALICE)
    assert caught.value.retry_after_s == 86_400 - 30
    await quotas.flush()
    assert stored(database, "alice", "tokens") == 120


async def test_counters_survive_a_restart(database: Database) -> None:
    quotas = enforcer(database)
    await quotas.charge_tokens(ALICE, 100)
    await quotas.stop()  # what the gateway's lifespan does on shutdown
    # A new enforcer on a new engine: what a restarted (or second) gateway sees.
    reopened = Database(database.url)
    try:
        with pytest.raises(QuotaExceeded, match="daily token quota"):
            await enforcer(reopened).admit(ALICE)
    finally:
        reopened.dispose()


def test_limits_most_generous_role_and_subject_override(database: Database) -> None:
    quotas = enforcer(database)
    assert quotas.limits_for(ADAM).requests_per_minute == 10
    assert quotas.limits_for(ADAM).tokens_per_day is None  # admin: unlimited beats the default
    assert quotas.limits_for(ALICE).requests_per_minute == 3
    carol = Principal("carol", "Carol", "oidc_bearer", frozenset({"admin"}))
    assert quotas.limits_for(carol).requests_per_minute == 1


async def test_disabled_quotas_admit_everything(database: Database) -> None:
    quotas = enforcer(database, QuotaSettings(enabled=False, default={"requests_per_minute": 1}))
    with statements(database) as seen:
        await quotas.start()
        for _ in range(10):
            await quotas.admit(ALICE)
        await quotas.charge_tokens(ALICE, 10**9)
        await quotas.stop()
    assert seen == []


async def test_admission_of_a_known_subject_touches_no_database(database: Database) -> None:
    quotas = enforcer(database, QuotaSettings(default={"requests_per_minute": 1000, "tokens_per_day": 10**6}))
    with statements(database) as first:
        await quotas.admit(ALICE)
    # The first request in a window reads the stored counts once: no write, no commit.
    assert first, "the first admission reads the stored counts"
    assert all(s.lstrip().upper().startswith("SELECT") for s in first), first
    with statements(database) as later:
        for _ in range(200):
            await quotas.admit(ALICE)
        await quotas.charge_tokens(ALICE, 500)
    assert later == []
    with statements(database) as flushed:
        await quotas.flush()
    assert [s.split()[0].upper() for s in flushed] == ["INSERT", "COMMIT"]  # one upsert for both counters
    assert "RETURNING" in flushed[0].upper()
    assert (stored(database, "alice", "requests"), stored(database, "alice", "tokens")) == (201, 500)


async def test_a_burst_of_first_requests_reads_once(database: Database) -> None:
    quotas = enforcer(database, QuotaSettings(default={"requests_per_minute": 15, "tokens_per_day": 10}))
    with statements(database) as seen:
        outcomes = await asyncio.gather(*(quotas.admit(ALICE) for _ in range(20)), return_exceptions=True)
    assert len(seen) == 1  # one read of both counters, shared by the twenty requests
    assert sum(isinstance(o, QuotaExceeded) for o in outcomes) == 5


async def test_two_replicas_converge_and_refuse_together(database: Database) -> None:
    settings = QuotaSettings(default={"requests_per_minute": 10})
    other = Database(database.url)  # a second gateway replica: its own engine on the same database
    try:
        first, second = enforcer(database, settings), enforcer(other, settings)
        # Between two syncs each replica admits from its own view: together they overshoot the limit,
        # by no more than what the other replica admitted unseen (6 here).
        for _ in range(6):
            await first.admit(ALICE)
        for _ in range(6):
            await second.admit(ALICE)
        await first.flush()
        await second.flush()
        await first.flush()  # reads back what the second one added
        assert stored(database, "alice", "requests") == 12
        for replica in (first, second):
            with pytest.raises(QuotaExceeded):
                await replica.admit(ALICE)
        await first.flush()
        await second.flush()
        assert stored(database, "alice", "requests") == 14
    finally:
        other.dispose()


async def test_running_replicas_share_the_limit(database: Database) -> None:
    # Requests spaced wider than the sync interval: the replicas together admit exactly the limit.
    settings = QuotaSettings(default={"requests_per_minute": 5}, sync_interval_s=0.02)
    other = Database(database.url)
    replicas = [enforcer(database, settings), enforcer(other, settings)]
    try:
        for replica in replicas:
            await replica.start()
        admitted = 0
        for turn in range(20):
            try:
                await replicas[turn % 2].admit(ALICE)
            except QuotaExceeded:
                break
            admitted += 1
            await asyncio.sleep(0.3)  # many sync intervals
        assert admitted == 5
        with pytest.raises(QuotaExceeded):
            await replicas[(turn + 1) % 2].admit(ALICE)
    finally:
        for replica in replicas:
            await replica.stop()
        other.dispose()


async def test_counts_survive_stop_and_a_new_enforcer(database: Database) -> None:
    quotas = enforcer(database, SETTINGS.model_copy(update={"sync_interval_s": 0.05}))
    await quotas.start()
    for _ in range(3):
        await quotas.admit(ALICE)
    await eventually(lambda: stored(database, "alice", "requests") == 3, "the background sync saving the requests")
    await quotas.charge_tokens(ALICE, 40)
    await quotas.stop()  # saves the tokens charged since the last sync
    assert stored(database, "alice", "tokens") == 40
    reopened = Database(database.url)
    try:
        restarted = enforcer(reopened)
        with pytest.raises(QuotaExceeded, match="3 requests per minute"):
            await restarted.admit(ALICE)
        await restarted.charge_tokens(ALICE, 60)
        with pytest.raises(QuotaExceeded, match="daily token quota of 100"):
            await restarted.admit(ALICE)
    finally:
        reopened.dispose()


async def test_a_failing_sync_keeps_the_counts_and_retries(database: Database) -> None:
    quotas = enforcer(database, QuotaSettings(default={"requests_per_minute": 5}, sync_interval_s=0.02))
    await quotas.admit(ALICE)  # known while the database is up
    with capture_logs() as logs:
        with database_gone(database):
            await quotas.start()
            for _ in range(4):
                await quotas.admit(ALICE)  # decided from memory while the database is gone
            with pytest.raises(QuotaExceeded):
                await quotas.admit(ALICE)
            await eventually(lambda: len(_failures(logs)) >= 2, "failed syncs, retried")
            with pytest.raises(sqlalchemy.exc.OperationalError):
                await quotas.flush()
            with pytest.raises(sqlalchemy.exc.OperationalError):
                await quotas.admit(BOB)  # a subject never seen: its count cannot be known, so no guess
        # The database is back: the retry saves every count exactly once.
        await eventually(lambda: stored(database, "alice", "requests") == 6, "the retried sync")
        await quotas.stop()
    first = _failures(logs)[0]
    assert first["log_level"] == "error"
    assert first["unsaved"] == {"requests": 6}
    assert any(e["event"] == "quota counts saved again" for e in logs)
    assert stored(database, "alice", "requests") == 6


async def test_counts_that_cannot_be_saved_at_shutdown_are_logged(database: Database) -> None:
    quotas = enforcer(database)
    await quotas.admit(ALICE)
    await quotas.charge_tokens(ALICE, 7)
    with capture_logs() as logs, database_gone(database):
        await quotas.stop()  # never raises: the rest of the shutdown goes on
    lost = [e for e in logs if e["event"].startswith("quota counts lost at shutdown")]
    assert lost, logs
    assert lost[0]["log_level"] == "error"
    assert lost[0]["lost"] == {"requests": 1, "tokens": 7}


def _failures(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"].startswith("quota counts not saved")]


def rows(database: Database) -> int:
    with database.session() as session:
        return len(session.scalars(select(QuotaCounterRow)).all())


async def test_many_simulated_minutes_keep_the_table_bounded(database: Database) -> None:
    # Three simulated days: a request and a token charge per subject every 17 minutes (each in a
    # new requests window), flushed each time, pruned every fourth time as the scheduled job does.
    now = [NOW]
    quotas = QuotaEnforcer(
        QuotaSettings(default={"requests_per_minute": 1000, "tokens_per_day": 10**9}), database, clock=lambda: now[0]
    )
    subjects = [ALICE, BOB]
    steps = 3 * 24 * 60 // 17
    peak = 0
    for step in range(steps):
        now[0] = NOW + 17 * 60 * step
        for principal in subjects:
            await quotas.admit(principal)
            await quotas.charge_tokens(principal, 3)
        await quotas.flush()
        if step % 4 == 3:
            peak = max(peak, rows(database))
            await quotas.prune()

    # Per subject at most: the requests window kept by the last prune and 4 written since, plus the
    # token days kept (today and the two before); without pruning: one row per step (254 each here).
    assert peak <= len(subjects) * (5 + 3)
    assert rows(database) <= len(subjects) * (5 + 3)
    # What is left still counts: today's tokens are all in the table.
    day = int(now[0] // 86_400 * 86_400)
    with database.session() as session:
        today = session.scalar(
            select(QuotaCounterRow.used).where(
                QuotaCounterRow.subject == "alice",
                QuotaCounterRow.kind == "tokens",
                QuotaCounterRow.window_start == day,
            )
        )
    in_today = sum(1 for step in range(steps) if NOW + 17 * 60 * step >= day)
    assert today == 3 * in_today


async def test_pruning_runs_on_its_own_schedule(database: Database) -> None:
    now = [NOW]
    settings = QuotaSettings(default={"requests_per_minute": 5}, prune_interval_s=0.02)
    quotas = QuotaEnforcer(settings, database, clock=lambda: now[0])
    await quotas.admit(ALICE)
    await quotas.flush()
    assert rows(database) == 1
    now[0] += 3 * 60  # the window has ended and its grace minute too
    job = asyncio.create_task(quotas.run_prunes())
    try:
        await eventually(lambda: rows(database) == 0, "the ended window pruned")
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
