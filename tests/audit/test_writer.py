"""The batched writer: durable before it returns, shared transactions, fail-closed and recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from structlog.testing import capture_logs

from suite.audit import AuditQuery, AuditTrail, verify_database
from suite.audit.tables import AuditChainHeadRow
from suite.config import AuditSettings
from suite.db import Database, migrate
from suite.errors import AuditUnavailable
from tests.audit.conftest import event, fill, scalar, sql


def count_commits(database: Database) -> list[int]:
    commits: list[int] = []
    sqlalchemy.event.listen(database.engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_record_is_committed_before_it_returns(trail: AuditTrail, database: Database) -> None:
    record_id = await trail.record(event(subject="bob"))
    # A separate engine sees it at once: what a crash right after record() would leave behind.
    other = Database(database.url)
    try:
        with other.engine.connect() as connection:
            stored = connection.execute(
                sqlalchemy.text("SELECT subject, seq FROM audit_records WHERE record_id = :id"), {"id": record_id}
            ).one()
    finally:
        other.dispose()
    assert stored == ("bob", 1)


async def test_concurrent_records_share_transactions(trail: AuditTrail, database: Database) -> None:
    commits = count_commits(database)
    ids = await asyncio.gather(*(trail.record(event(subject=f"user{i}")) for i in range(200)))
    assert len(set(ids)) == 200
    # 200 requests at once: a handful of batches, not 200 inserts.
    assert len(commits) <= 10, len(commits)
    assert trail.stats.batches == len(commits)
    assert trail.stats.records == 200
    report = verify_database(database, trail.keys.public_keys())
    assert report.ok, report.problem
    assert report.records_checked == 200


async def test_batches_are_capped_at_batch_max(database: Database, tmp_path: Path) -> None:
    trail = AuditTrail(AuditSettings(batch_max=16, batch_wait_ms=50), database, data_dir=tmp_path)
    await trail.start()
    try:
        await asyncio.gather(*(trail.record(event()) for _ in range(100)))
    finally:
        await trail.stop()
    assert trail.stats.batches >= 7  # ceil(100 / 16)


async def test_stop_flushes_what_is_queued(database: Database, tmp_path: Path) -> None:
    trail = AuditTrail(AuditSettings(batch_wait_ms=200), database, data_dir=tmp_path)
    await trail.start()
    waiting = [asyncio.create_task(trail.record(event())) for _ in range(20)]
    await asyncio.sleep(0)
    await trail.stop()
    assert len(set(await asyncio.gather(*waiting))) == 20
    assert scalar(database, "SELECT count(*) FROM audit_records") == 20


async def test_record_sync_and_the_writer_keep_one_chain(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 3)
    await asyncio.to_thread(trail.record_sync, event(event_class="admin", action="keys.create"))
    await fill(trail, 3)
    report = verify_database(database, trail.keys.public_keys())
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq) == (1, 7)


async def test_an_unstorable_event_fails_alone(trail: AuditTrail) -> None:
    good = asyncio.create_task(trail.record(event()))
    with pytest.raises(ValueError, match="NUL"):
        await trail.record(event(prompt="a\x00b"))
    assert await good


async def test_records_are_refused_when_the_table_is_gone_and_the_writer_recovers(
    trail: AuditTrail, database: Database
) -> None:
    await fill(trail, 3)
    sql(database, "ALTER TABLE audit_records RENAME TO audit_records_away")
    try:
        results = await asyncio.gather(*(trail.record(event()) for _ in range(5)), return_exceptions=True)
        assert all(isinstance(result, AuditUnavailable) for result in results), results
        assert trail.stats.failed_batches >= 1
    finally:
        sql(database, "ALTER TABLE audit_records_away RENAME TO audit_records")
    await fill(trail, 3)
    report = verify_database(database, trail.keys.public_keys())
    assert report.ok, report.problem
    # The failed batches left no trace: not a row, not a seq.
    assert (report.records_checked, report.last_seq) == (6, 6)


async def test_broken_sqlite_file_mid_stream_then_restored(tmp_path: Path) -> None:
    path = tmp_path / "suite.db"
    database = Database(f"sqlite:///{path}")
    migrate(database)
    trail = AuditTrail(AuditSettings(), database, data_dir=tmp_path)
    await trail.start()
    try:
        outcomes: list[str] = []
        healthy = b""
        for index in range(12):
            if index == 4:
                database.dispose()  # closes the connections, folding the WAL into the file
                healthy = path.read_bytes()
                path.write_bytes(b"this is not an SQLite database\n" * 200)
            if index == 8:
                path.write_bytes(healthy)
            try:
                await trail.record(event(details={"index": index}))
                outcomes.append("ok")
            except AuditUnavailable:
                outcomes.append("refused")
        assert outcomes == ["ok"] * 4 + ["refused"] * 4 + ["ok"] * 4
        report = verify_database(database, trail.keys.public_keys())
        assert report.ok, report.problem
        assert report.records_checked == 8
    finally:
        await trail.stop()
        database.dispose()


async def test_fail_open_logs_loudly_and_returns(database: Database, tmp_path: Path) -> None:
    trail = AuditTrail(AuditSettings(fail_open=True), database, data_dir=tmp_path)
    await trail.start()
    sql(database, "ALTER TABLE audit_records RENAME TO audit_records_away")
    try:
        with capture_logs() as logs:
            record_id = await trail.record(event(prompt="secret prompt text"))
    finally:
        sql(database, "ALTER TABLE audit_records_away RENAME TO audit_records")
        await trail.stop()
    lost = [entry for entry in logs if entry["event"] == "AUDIT RECORD LOST (fail-open)"]
    assert len(lost) == 1
    assert lost[0]["log_level"] == "error"
    assert lost[0]["record_id"] == record_id
    assert "secret prompt text" not in repr(logs)
    assert AuditQuery(database).get(record_id) is None


async def test_record_without_start_is_refused(database: Database, tmp_path: Path) -> None:
    with pytest.raises(AuditUnavailable):
        await AuditTrail(AuditSettings(), database, data_dir=tmp_path).record(event())


class Clock:
    """A clock the test moves by hand: whether a time-based checkpoint is due is its say alone."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def idle_wakeups(trail: AuditTrail, count: int) -> None:
    """Wait until the idle writer has woken count more times (and finished what each wake-up did)."""
    target = trail.stats.idle_wakeups + count
    for _ in range(2000):
        if trail.stats.idle_wakeups >= target:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the idle writer woke {trail.stats.idle_wakeups} times, not {target}")


def checkpoints(database: Database, kind: str | None = None) -> list[int]:
    where = f" WHERE kind = '{kind}'" if kind else ""
    with database.engine.connect() as connection:
        return list(
            connection.execute(sqlalchemy.text(f"SELECT seq FROM audit_checkpoints{where} ORDER BY id")).scalars()
        )


async def test_checkpoints_by_count_and_by_time(database: Database, tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = Clock(start)
    with database.sessions.begin() as session:  # the migration's genesis head was checkpointed at a real time
        session.execute(sqlalchemy.update(AuditChainHeadRow).values(checkpoint_at=start))
    # The idle writer wakes every 0.05 s of real time, but whether a checkpoint is due is the clock's say,
    # and only the test moves it: nothing depends on how fast a loaded machine runs the writer.
    settings = AuditSettings(checkpoint_every_records=5, checkpoint_every_s=0.05)
    trail = AuditTrail(settings, database, data_dir=tmp_path, clock=clock)
    await trail.start()
    try:
        await fill(trail, 5)
        assert checkpoints(database) == [5]  # by count
        await fill(trail, 2)
        await idle_wakeups(trail, 3)
        assert checkpoints(database) == [5]  # two records, but no time has passed on the clock
        clock.advance(0.05)
        await idle_wakeups(trail, 1)
        assert checkpoints(database, "periodic") == [5, 7]  # by time: the idle writer signed the two records
        await idle_wakeups(trail, 3)
        assert checkpoints(database) == [5, 7]
        clock.advance(0.05)
        await idle_wakeups(trail, 1)
        # No new records: a heartbeat signs the same head again, so an idle trail still leaves heads.
        assert checkpoints(database, "heartbeat") == [7]
        clock.advance(0.05)
        await idle_wakeups(trail, 1)
        assert checkpoints(database, "heartbeat") == [7, 7]
        lines = (tmp_path / "audit-checkpoints" / "checkpoints.jsonl").read_text().splitlines()
        assert len(lines) == len(checkpoints(database)) == 4
    finally:
        await trail.stop()


async def test_two_trails_on_one_database_keep_one_chain(database: Database, tmp_path: Path) -> None:
    """Two gateway replicas (own engines, own signing keys) writing to one database at once."""
    replicas: list[tuple[AuditTrail, Database]] = []
    for name in ("a", "b"):
        engine = Database(database.url)
        trail = AuditTrail(AuditSettings(checkpoint_every_records=25), engine, data_dir=tmp_path / name)
        await trail.start()
        replicas.append((trail, engine))
    try:

        async def burst(trail: AuditTrail, who: str) -> list[str]:
            ids: list[str] = []
            for round_ in range(10):
                ids += await asyncio.gather(
                    *(trail.record(event(subject=who, details={"r": round_})) for _ in range(15))
                )
            return ids

        written = await asyncio.gather(*(burst(trail, name) for (trail, _), name in zip(replicas, "ab", strict=True)))
    finally:
        for trail, engine in replicas:
            await trail.stop()
            engine.dispose()
    assert len({record_id for ids in written for record_id in ids}) == 300
    trusted: dict[str, Any] = {}
    for trail, _ in replicas:
        trusted |= trail.keys.public_keys()
    report = verify_database(database, trusted)
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq, report.records_checked) == (1, 300, 300)
    assert report.checkpoints_checked >= 300 // 25 // 2
