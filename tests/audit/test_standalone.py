"""`suite-verify` on an auditor's machine: an export, public keys and the heads file, nothing else.

The verifier runs in a fresh interpreter with the environment cleared (only PATH, a new HOME and
the source on PYTHONPATH, as an installed package would be), from a directory outside the
repository that holds no settings file, so nothing of the suite's configuration can be found.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from suite.audit import AuditFilters, AuditQuery, AuditTrail
from suite.config import AuditSettings
from suite.db import Database, migrate
from tests.audit.conftest import fill

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sqlite_trail(tmp_path: Path) -> AsyncIterator[AuditTrail]:
    database = Database(f"sqlite:///{tmp_path / 'suite.db'}")
    migrate(database)
    trail = AuditTrail(AuditSettings(checkpoint_every_records=10), database, data_dir=tmp_path / "data")
    await trail.start()
    yield trail
    await trail.stop()
    database.dispose()


def auditor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "suite.audit.standalone", *args],
        cwd=tmp_path / "auditor",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_an_export_verifies_on_a_machine_without_the_suite(sqlite_trail: AuditTrail, tmp_path: Path) -> None:
    await fill(sqlite_trail, 25)
    handed = tmp_path / "auditor"
    (handed / "keys").mkdir(parents=True)
    export = handed / "export.jsonl"
    export.write_text("".join(AuditQuery(sqlite_trail.database).export(AuditFilters(), keys=sqlite_trail.keys)))
    for public in sqlite_trail.keys.key_dir.glob("*.pub"):
        shutil.copy(public, handed / "keys")
    shutil.copy(sqlite_trail.heads.path, handed / "checkpoints.jsonl")
    assert not list(handed.glob("*.yaml"))
    before = hashlib.sha256(export.read_bytes()).hexdigest()

    ok = auditor(tmp_path, "export.jsonl", "--key", "keys", "--heads", "checkpoints.jsonl", "--every-records", "10")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0] == "OK: 25 records (1..25), 2 checkpoints"
    assert "2 signed heads from outside the database match" in ok.stdout
    assert hashlib.sha256(export.read_bytes()).hexdigest() == before  # read only

    # Records cut off at the end, with the checkpoint lines and the end line (which cannot be re-signed).
    lines = export.read_text().splitlines()
    kept = [line for line in lines if json.loads(line).get("type") in ("header", "record")][:16]
    export.write_text("\n".join(kept) + "\n")
    cut = auditor(tmp_path, "export.jsonl", "--key", "keys", "--heads", "checkpoints.jsonl")
    assert cut.returncode == 1
    assert cut.stdout.splitlines()[0] == (
        "FAILED: the export has no signed end line: lines after line 16 were dropped"
        " (or the file was not made by `suite audit export`)"
    )

    unusable = auditor(tmp_path, "export.jsonl", "--key", "nowhere")
    assert unusable.returncode == 2
    assert "suite-verify: nowhere" in unusable.stderr
