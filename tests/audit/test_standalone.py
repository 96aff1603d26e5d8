"""`suite-verify` on an auditor's machine: an export, public keys and the heads file, nothing else.

The verifier runs in a fresh interpreter with the environment cleared (only PATH, a new HOME and
the source on PYTHONPATH, as an installed package would be), from a directory outside the
repository that holds no settings file, so nothing of the suite's configuration can be found.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suite.audit import AuditFilters, AuditQuery, AuditTrail
from suite.audit.chain import record_hash
from suite.audit.cli import audit_app
from suite.audit.keys import checkpoint_message, export_end_message
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


async def test_the_key_ranges_file_refuses_a_retired_key_signing_later(
    sqlite_trail: AuditTrail, tmp_path: Path
) -> None:
    """A retired key that leaked: the attacker re-signs a whole export with it, leaving out its retirement."""
    await fill(sqlite_trail, 15)  # checkpoint at 10 by the first key
    leaked = sqlite_trail.keys.current()
    await asyncio.to_thread(sqlite_trail.rotate_signing_key)  # key_retired at 15 by it
    await fill(sqlite_trail, 10)  # checkpoint at 25 by the new key
    await sqlite_trail.stop()
    config = tmp_path / "suite.yaml"
    settings = {"data_dir": str(tmp_path / "data"), "database": {"url": sqlite_trail.database.url}}
    config.write_text(json.dumps(settings), encoding="utf-8")
    handed = tmp_path / "auditor"
    handed.mkdir()
    written = CliRunner().invoke(
        audit_app, ["export-keys", "--out", str(handed / "keys.json"), "--config", str(config)]
    )
    assert written.exit_code == 0, written.output
    document = json.loads((handed / "keys.json").read_text())
    ranges = {entry["key_id"]: (entry["first_seq"], entry["retired_seq"]) for entry in document["keys"]}
    assert ranges == {leaked.key_id: (10, 15), sqlite_trail.keys.current().key_id: (25, None)}

    genuine = list(AuditQuery(sqlite_trail.database).export(AuditFilters(), keys=sqlite_trail.keys))
    (handed / "genuine.jsonl").write_text("".join(genuine))
    passed = auditor(tmp_path, "genuine.jsonl", "--key-ranges", "keys.json", "--every-records", "10")
    assert passed.returncode == 0, passed.stdout + passed.stderr

    # A later stretch (records 20..26) forged with the leaked key: record 22 edited and the chain after it
    # recomputed, the checkpoint at 25 and the end signed by the leaked key. The retirement at 15 lies
    # outside the stretch, so nothing in the file shows the key had retired.
    items = [json.loads(line) for line in genuine[1:]]
    records = {item["seq"]: item for item in items if item["type"] == "record" and item["seq"] >= 20}
    records[22]["subject"] = "mallory"
    for seq in range(22, 27):
        fields = {k: v for k, v in records[seq].items() if k not in ("type", "record_hash")}
        fields["prev_hash"] = records[seq - 1]["record_hash"]
        records[seq] = {"type": "record", **fields, "record_hash": record_hash(fields)}
    [head] = [item for item in items if item["type"] == "checkpoint" and item["seq"] == 25]
    head["head_hash"] = records[25]["record_hash"]
    message = checkpoint_message(kind=head["kind"], seq=25, head_hash=head["head_hash"], time=head["time"])
    head |= {"key_id": leaked.key_id, "signature": leaked.sign(message)}
    end = {
        "header_sha256": hashlib.sha256(genuine[0].encode()).hexdigest(),
        "records": 7,
        "checkpoints": 1,
        "last_seq": 26,
        "last_hash": records[26]["record_hash"],
    }
    end |= {"type": "end", "key_id": leaked.key_id, "signature": leaked.sign(export_end_message(end))}
    forged = [genuine[0], *(json.dumps(item) + "\n" for item in [*records.values(), head, end])]
    (handed / "forged.jsonl").write_text("".join(forged))
    keys = handed / "keys"
    keys.mkdir()
    for public in sqlite_trail.keys.key_dir.glob("*.pub"):
        shutil.copy(public, keys)
    fooled = auditor(tmp_path, "forged.jsonl", "--key", "keys", "--every-records", "10")
    assert fooled.returncode == 0, fooled.stdout + fooled.stderr  # the public keys alone cannot tell
    caught = auditor(tmp_path, "forged.jsonl", "--key-ranges", "keys.json", "--every-records", "10")
    assert caught.returncode == 1, caught.stdout + caught.stderr
    [retired_time] = [e["retired_time"] for e in document["keys"] if e["key_id"] == leaked.key_id]
    assert caught.stdout.splitlines()[0] == (
        f"FAILED: checkpoint 25 (line 9) is signed by key {leaked.key_id} after its retirement (seq 15, {retired_time};"
        " key ranges file)"
    )
