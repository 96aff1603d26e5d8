"""Audit store: sustained writes through the trail's writer, and the console's queries over a large trail.

1. Writes: ``--producers`` concurrent tasks call ``AuditTrail.record`` (the gateway's own path:
   prepare, queue, group commit, chain, checkpoints signed as configured by default) for
   ``--duration`` seconds; reports records/s and the callers' latency.
   Before that, the latency of one ``record()`` at a time on an idle writer (every model request
   waits for it before its first token).
2. Queries: loads ``--rows`` records (``--sqlite-rows`` on SQLite) through the ledger's own
   chaining code (``ledger.append``, 5,000 records per transaction, so the chain and checkpoints are
   real), then times ``AuditQuery.search`` (a page of 50, newest first) for the console's common
   filters: p50 and p95 over ``--repeats`` runs each, with varying values.

Each database is fresh: a temporary SQLite file, and a PostgreSQL database created and dropped
(reached through the Unix socket). Only the local machine is used.

    .venv/bin/python benchmarks/audit_store.py [--duration 20] [--producers 64,256] [--rows 1000000]
        [--sqlite-rows 1000000] [--databases sqlite,postgresql] [--results benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from machine import machine_line  # benchmarks/ is on sys.path: run as a script

from suite.audit import AuditEvent, AuditFilters, AuditQuery, AuditTrail
from suite.audit.chain import format_time
from suite.audit.keys import KeyRing
from suite.audit.ledger import append
from suite.audit.query import encode_cursor
from suite.config import AuditSettings
from suite.db import Database, migrate

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql"
SUBJECTS = [f"user{n:04d}" for n in range(1000)]
MODELS = ["smollm2-135m-instruct", "llama-3.1-8b", "mistral-7b", "bge-m3", "qwen2.5-14b"]
WORDS = [
    "leave",
    "policy",
    "invoice",
    "contract",
    "salary",
    "travel",
    "expense",
    "budget",
    "audit",
    "report",
    "customer",
    "claim",
]
LOAD_BATCH = 5000
SPAN = timedelta(days=90)


def event(rng: random.Random) -> AuditEvent:
    """A chat record like the gateway writes (content stored in full, the heaviest policy)."""
    return AuditEvent(
        event_class="model_request",
        action="chat.completions",
        request_id=uuid.uuid4().hex,
        subject=rng.choice(SUBJECTS),
        roles=["employee"],
        auth_method="oidc_bearer",
        route="/v1/chat/completions",
        model=rng.choice(MODELS),
        backend="http://127.0.0.1:8100",
        decision="allow",
        decision_rule="employees-chat",
        content_policy="full",
        prompt=" ".join(rng.choices(WORDS, k=12)),
        answer=" ".join(rng.choices(WORDS, k=30)),
        prompt_tokens=40,
        completion_tokens=90,
        latency_ms=812.5,
    )


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[Database]:
    """A migrated, empty database of one kind, removed afterwards."""
    if kind == "sqlite":
        database = Database(f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}")
        migrate(database)
        try:
            yield database
        finally:
            database.dispose()
        return
    name = f"suite_bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    database = Database(POSTGRES_ADMIN_URL.replace("/postgres?", f"/{name}?"))
    try:
        migrate(database)
        yield database
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def idle_latency(database: Database, directory: Path, *, count: int = 200) -> tuple[float, float]:
    """p50 and p95 (ms) of one record() at a time on an idle writer: what a model request waits for."""
    trail = AuditTrail(AuditSettings(), database, data_dir=directory)
    await trail.start()
    rng, latencies = random.Random(3), []
    for _ in range(count):
        record = event(rng)
        started = time.perf_counter()
        await trail.record(record)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    await trail.stop()
    return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.95) * 1000


async def sustained_writes(database: Database, directory: Path, *, producers: int, duration: float) -> dict[str, Any]:
    """Records/s through AuditTrail.record with producers concurrent callers."""
    trail = AuditTrail(AuditSettings(), database, data_dir=directory)
    await trail.start()
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def produce(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await trail.record(event(rng))
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(produce(n) for n in range(producers)))
    elapsed = time.monotonic() - started
    await trail.stop()
    stats = trail.stats
    return {
        "producers": producers,
        "records": stats.records,
        "per_s": stats.records / elapsed,
        "batch": stats.records / max(stats.batches, 1),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "checkpoints": stats.checkpoints,
    }


def bulk_load(database: Database, directory: Path, rows: int) -> float:
    """Load rows records through ledger.append; seconds taken. Times spread over 90 days, oldest first."""
    rng = random.Random(7)
    keys = KeyRing(directory / f"keys-{uuid.uuid4().hex[:6]}")
    settings = AuditSettings()
    start = datetime.now(UTC) - SPAN
    step = SPAN / rows
    started = time.monotonic()
    for first in range(0, rows, LOAD_BATCH):
        batch = []
        for n in range(first, min(first + LOAD_BATCH, rows)):
            fields = event(rng).model_dump(mode="json")
            fields["time"] = format_time(start + step * n)
            fields["record_id"] = str(uuid.uuid4())
            if n % 50 == 0:  # 2 % denied by policy
                fields.update(status="denied", decision="deny", http_status=403, prompt=None, answer=None)
            if n % 20 == 0:  # 5 % with a guardrail verdict
                fields["verdicts"] = [{"name": "pii", "outcome": "masked" if n % 40 else "blocked"}]
            if n % 100_000 == 0:  # a rare word, for the text search that must scan
                fields["prompt"] = "zanzibar " + (fields["prompt"] or "")
            batch.append(fields)
        with database.sessions.begin() as session:
            append(session, batch, keys=keys, settings=settings, now=datetime.now(UTC))
        done = min(first + LOAD_BATCH, rows)
        if done % 100_000 == 0 or done == rows:
            print(f"  loaded {done} records ({done / (time.monotonic() - started):.0f}/s)", flush=True)
    seconds = time.monotonic() - started
    # Planner statistics and the visibility map (index-only scans), as autovacuum (PostgreSQL) or a
    # periodic ANALYZE (SQLite) would have them.
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if database.engine.dialect.name == "postgresql" else "ANALYZE")
    return seconds


def query_cases(rows: int) -> dict[str, Callable[[random.Random], dict[str, Any]]]:
    """The console's common searches; each returns search() arguments for one run."""
    now = datetime.now(UTC)

    def day(rng: random.Random) -> dict[str, Any]:
        start = now - timedelta(days=rng.uniform(1, 89))
        return {"filters": AuditFilters(time_from=start, time_to=start + timedelta(days=1))}

    return {
        "first page (no filter)": lambda rng: {"filters": AuditFilters()},
        "subject": lambda rng: {"filters": AuditFilters(subject=rng.choice(SUBJECTS))},
        "model": lambda rng: {"filters": AuditFilters(model=rng.choice(MODELS))},
        "time range (1 day)": day,
        "subject + last 7 days": lambda rng: {
            "filters": AuditFilters(subject=rng.choice(SUBJECTS), time_from=now - timedelta(days=7))
        },
        "status=denied": lambda rng: {"filters": AuditFilters(status="denied")},
        "verdict pii:blocked": lambda rng: {"filters": AuditFilters(verdict="pii:blocked")},
        "text (common word)": lambda rng: {"filters": AuditFilters(text=rng.choice(WORDS))},
        "text (rare word)": lambda rng: {"filters": AuditFilters(text="zanzibar")},
        "deep cursor page": lambda rng: {"filters": AuditFilters(), "cursor": encode_cursor(rng.randint(1, rows // 2))},
        "subject, deep cursor": lambda rng: {
            "filters": AuditFilters(subject=rng.choice(SUBJECTS)),
            "cursor": encode_cursor(rng.randint(1, rows // 2)),
        },
    }


def time_queries(database: Database, rows: int, repeats: int) -> dict[str, tuple[float, float, int]]:
    """p50, p95 (ms) and the last page's size per search."""
    query, rng = AuditQuery(database), random.Random(11)
    results = {}
    for name, case in query_cases(rows).items():
        times, size = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            size = len(query.search(**case(rng), limit=50).records)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = (percentile(times, 0.5), percentile(times, 0.95), size)
        print(f"  {name}: p50 {results[name][0]:.1f} ms, p95 {results[name][1]:.1f} ms ({size} rows)", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--producers", default="64,256")
    parser.add_argument("--rows", type=int, default=1_000_000, help="records loaded for the query timings (0: none)")
    parser.add_argument("--sqlite-rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--results", type=Path, default=None, help="Append a Markdown section to this file.")
    args = parser.parse_args()
    lines = [
        f"- Command: `.venv/bin/python benchmarks/audit_store.py {' '.join(sys.argv[1:])}`",
        f"- Machine: {machine_line()}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| Database | Producers | Records/s | Records per commit | record() p50 / p99 ms | Checkpoints |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    query_lines: list[str] = []
    idle_lines = ["", "| Database | one record() on an idle writer, p50 / p95 ms |", "|---|---:|"]
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        directory = Path(tmp)
        for kind in args.databases.split(","):
            with fresh_database(kind, directory) as database:
                p50, p95 = asyncio.run(idle_latency(database, directory))
            print(f"{kind}: idle record() p50 {p50:.2f} ms, p95 {p95:.2f} ms", flush=True)
            idle_lines.append(f"| {kind} | {p50:.2f} / {p95:.2f} |")
            for producers in (int(p) for p in args.producers.split(",")):
                with fresh_database(kind, directory) as database:
                    print(f"{kind}: {producers} producers for {args.duration}s", flush=True)
                    row = asyncio.run(
                        sustained_writes(database, directory, producers=producers, duration=args.duration)
                    )
                print(f"  {row['per_s']:.0f} records/s", flush=True)
                lines.append(
                    f"| {kind} | {producers} | {row['per_s']:.0f} | {row['batch']:.1f} | "
                    f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f} | {row['checkpoints']} |"
                )
            rows = args.sqlite_rows if kind == "sqlite" and args.sqlite_rows else args.rows
            if rows <= 0:
                continue  # --rows 0: writer throughput only
            with fresh_database(kind, directory) as database:
                print(f"{kind}: loading {rows} records", flush=True)
                seconds = bulk_load(database, directory, rows)
                query_lines.append(f"\n{kind}, {rows:,} records (loaded in {seconds:.0f} s, {rows / seconds:.0f}/s):\n")
                query_lines += [
                    "| Search (page of 50, newest first) | p50 ms | p95 ms | rows |",
                    "|---|---:|---:|---:|",
                ]
                for name, (p50, p95, size) in time_queries(database, rows, args.repeats).items():
                    query_lines.append(f"| {name} | {p50:.1f} | {p95:.1f} | {size} |")
    report = "\n".join(lines + idle_lines + query_lines) + "\n"
    print(report)
    if args.results:
        with args.results.open("a", encoding="utf-8") as target:
            target.write("\n## Audit store (writer throughput, console queries)\n\n" + report)


if __name__ == "__main__":
    main()
