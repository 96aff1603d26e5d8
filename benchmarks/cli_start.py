"""CLI start time: `suite` and `suite-bastion` commands that need no model, against `python -c pass`.

Each command is started as a fresh process, as a user or an auditor does, in alternating rounds
with the baseline `python -c pass` (same interpreter, same environment), so that a busy machine
weighs on both alike. Commands run through their console-script entry points (`from suite.cli
import run; run()` is what `.venv/bin/suite` runs), so the tree on PYTHONPATH is measured.

- `suite --help`, `suite hash-key x`, `suite audit --help`, `suite guard --help`
- `suite audit verify --export FILE --trusted-key PUB` on a small export (30 records), and the
  same export through the standalone verifier `suite-verify FILE --key PUB`
- `suite-bastion --help`

Target (issue 17): `suite --help`, `suite audit verify --export` (small file) and `suite hash-key`
under 1.5 s wall each (median).

    .venv/bin/python benchmarks/cli_start.py --rounds 7 --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import machine_line  # benchmarks/ is on sys.path: run as a script
from results_file import replace_section  # benchmarks/ is on sys.path: run as a script

SECTION = "## CLI start (commands that need no model)"
TARGET_S = 1.5
TARGETED = ("suite --help", "suite hash-key x", "suite audit verify --export FILE")


def entry(module: str, *args: str) -> list[str]:
    """The command a console script runs: its module's run() with these arguments."""
    code = f"import sys; sys.argv = ['x', *sys.argv[1:]]; from {module} import run; run()"
    return [sys.executable, "-c", code, *args]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, from wait4) of one child process, which must exit 0."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode()[-2000:] if process.stderr else ""
        raise SystemExit(f"{shlex.join(command)} failed: {error}")
    if process.stderr:
        process.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime


def small_export(directory: Path) -> tuple[Path, Path]:
    """A trail of 30 records in a throwaway SQLite database, exported: (export file, public key)."""
    from suite.audit import AuditEvent, AuditFilters, AuditQuery, AuditTrail
    from suite.config import AuditSettings
    from suite.db import Database, migrate

    database = Database(f"sqlite:///{directory / 'suite.db'}")
    migrate(database)
    trail = AuditTrail(AuditSettings(checkpoint_every_records=10), database, data_dir=directory)

    async def fill() -> None:
        await trail.start()
        for index in range(30):
            await trail.record(AuditEvent(event_class="admin", action="bench.cli_start", subject=f"user{index}"))
        await trail.stop()

    asyncio.run(fill())
    out = directory / "export.jsonl"
    out.write_text("".join(AuditQuery(database).export(AuditFilters(), keys=trail.keys)), encoding="utf-8")
    database.dispose()
    [public] = sorted(trail.keys.key_dir.glob("*.pub"))
    return out, public


def commands(export: Path, public: Path) -> dict[str, list[str]]:
    """What is timed, by the name it is reported under."""
    return {
        "suite --help": entry("suite.cli", "--help"),
        "suite hash-key x": entry("suite.cli", "hash-key", "x"),
        "suite audit --help": entry("suite.cli", "audit", "--help"),
        "suite guard --help": entry("suite.cli", "guard", "--help"),
        "suite audit verify --export FILE": entry(
            "suite.cli", "audit", "verify", "--export", str(export), "--trusted-key", str(public)
        ),
        "suite-verify FILE": entry("suite.audit.standalone", str(export), "--key", str(public)),
        "suite-bastion --help": entry("suite.bastion.cli", "--help"),
    }


def measure(named: dict[str, list[str]], rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Alternating rounds: the baseline, then each command, rounds times (after one unmeasured round)."""
    baseline = [sys.executable, "-c", "pass"]
    times: dict[str, list[tuple[float, float]]] = {"python -c pass": [], **{name: [] for name in named}}
    for round_index in range(rounds + 1):
        for name, command in [("python -c pass", baseline), *named.items()]:
            measured = timed(command)
            if round_index:  # the first round warms the page cache and the bytecode cache
                times[name].append(measured)
        print(f"round {round_index}/{rounds} done", file=sys.stderr)
    return times


def results_section(times: dict[str, list[tuple[float, float]]], rounds: int, load: str) -> str:
    """The Markdown section for RESULTS.md."""
    base = statistics.median(wall for wall, _ in times["python -c pass"])
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    lines = [
        SECTION,
        "",
        "Each command started as a fresh process through its console-script entry point, in alternating rounds "
        f"with `python -c pass` (the baseline: the interpreter's own start), median of {rounds} rounds after one "
        "unmeasured round. The export is 30 records with 3 checkpoints and its signed end line.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine_line()} (at the end), shared with other work",
        f"- Load average (1 min) before the run: {load}",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| Command | Wall median s | Wall min s | CPU median s | Wall ratio to python -c pass | Target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, measured in times.items():
        walls, cpus = [wall for wall, _ in measured], [cpu for _, cpu in measured]
        median = statistics.median(walls)
        target = ("met" if median < TARGET_S else "MISSED") if name in TARGETED else "-"
        lines.append(
            f"| `{name}` | {median:.3f} | {min(walls):.3f} | {statistics.median(cpus):.3f} | {median / base:.1f} "
            f"| {target} |"
        )
    lines += [
        "",
        f"Target: `suite --help`, `suite hash-key` and `suite audit verify --export` (small file) under {TARGET_S} s "
        "wall. The CPU column is the process's own user + system time: on a machine shared with other work the "
        "wall time grows with the load, the CPU time hardly. Before the lazy imports (issue 17), every `suite` "
        "command imported presidio, spaCy and torch through the guardrails and RAG command groups: "
        "`suite hash-key x` took 21 s on the issue's machine, 19 s on this one.",
        "",
    ]
    return "\n".join(lines)


def write_results(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it)."""
    replace_section(path, SECTION, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--results", type=Path, help="Write the section into this RESULTS.md.")
    options = parser.parse_args()
    load = Path("/proc/loadavg").read_text(encoding="ascii").split()[0] if Path("/proc/loadavg").exists() else "?"
    with tempfile.TemporaryDirectory(prefix="cli-start-") as scratch:
        export, public = small_export(Path(scratch))
        times = measure(commands(export, public), options.rounds)
    section = results_section(times, options.rounds, load)
    print(section)
    if options.results:
        write_results(options.results, section)


if __name__ == "__main__":
    main()
