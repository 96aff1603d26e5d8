"""`suite audit`: every command against a real database, and that using it is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from suite.audit import AuditFilters, AuditQuery, AuditTrail
from suite.audit.cli import audit_app
from suite.config import AuditSettings
from suite.db import Database
from tests.audit.conftest import days_ago, fill, sql

runner = CliRunner()


@pytest.fixture
def config(database: Database, tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    settings = {
        "data_dir": str(tmp_path),
        "database": {"url": database.url},
        "audit": {"checkpoint_every_records": 5, "retention_days": {"default": 30}},
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
async def cli_trail(database: Database, tmp_path: Path) -> AuditTrail:
    """A trail with the same settings and keys as the CLI's, holding a few records."""
    trail = AuditTrail(AuditSettings(checkpoint_every_records=5), database, data_dir=tmp_path)
    await trail.start()
    await fill(trail, 4, time=days_ago(40), subject="alice")
    await fill(trail, 3, subject="bob", collections=["hr"])
    await trail.stop()
    return trail


def run(config: Path, *args: str) -> Result:
    return runner.invoke(audit_app, [*args, "--config", str(config)])


def access_actions(database: Database) -> list[str]:
    records = AuditQuery(database).search(AuditFilters(event_class="audit_access"), limit=100).records
    return [record.action for record in reversed(records)]


async def test_query_table_and_json(config: Path, cli_trail: AuditTrail, database: Database) -> None:
    table = run(config, "query", "--subject", "bob")
    assert table.exit_code == 0, table.output
    assert "bob" in table.stdout
    assert "alice" not in table.stdout
    as_json = run(config, "query", "--collection", "hr", "--json", "--limit", "2")
    assert as_json.exit_code == 0, as_json.output
    page = json.loads(as_json.stdout)
    assert [r["subject"] for r in page["records"]] == ["bob", "bob"]
    assert page["next_cursor"]
    rest = json.loads(run(config, "query", "--collection", "hr", "--json", "--cursor", page["next_cursor"]).stdout)
    assert len(rest["records"]) == 1
    assert rest["next_cursor"] is None
    assert access_actions(database) == ["audit.query"] * 3


async def test_show(config: Path, cli_trail: AuditTrail, database: Database) -> None:
    record_id = AuditQuery(database).search(limit=1).records[0].record_id
    shown = run(config, "show", record_id)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["record_id"] == record_id
    missing = run(config, "show", "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == 1
    assert access_actions(database) == ["audit.show", "audit.show"]


async def test_export_and_verify_the_file(config: Path, cli_trail: AuditTrail, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    exported = run(config, "export", "--format", "jsonl", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    public = sorted(cli_trail.keys.key_dir.glob("*.pub"))
    keys = [arg for path in public for arg in ("--trusted-key", str(path))]
    verified = run(config, "verify", "--export", str(out), *keys)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("OK: 8 records")  # 7 and the export's own access record
    lines = out.read_text().splitlines()
    item = json.loads(lines[2])
    item["subject"] = "mallory"
    lines[2] = json.dumps(item)
    out.write_text("\n".join(lines) + "\n")
    tampered = run(config, "verify", "--export", str(out), *keys)
    assert tampered.exit_code == 1
    assert "FAILED: record 2 was edited" in tampered.stdout
    csv_out = tmp_path / "out.csv"
    assert run(config, "export", "--format", "csv", "--out", str(csv_out), "--subject", "bob").exit_code == 0
    assert csv_out.read_text().startswith("type,seq,record_id,time,")


async def test_verify_database_exit_codes(config: Path, cli_trail: AuditTrail, database: Database) -> None:
    ok = run(config, "verify")
    assert ok.exit_code == 0, ok.output
    sql(database, "UPDATE audit_records SET answer = 'changed' WHERE seq = 3")
    bad = run(config, "verify")
    assert bad.exit_code == 1
    assert "FAILED: record 3 was edited" in bad.stdout


async def test_purge_and_holds(config: Path, cli_trail: AuditTrail, database: Database) -> None:
    dry = run(config, "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete 4 records through seq 4" in dry.stdout
    added = run(config, "hold", "add", "--subject", "alice", "--reason", "case 17")
    assert added.exit_code == 0, added.output
    listed = run(config, "hold", "list")
    assert "case 17" in listed.stdout
    held = run(config, "purge")
    assert "deleted 0 records" in held.stdout
    assert "legal hold" in held.stdout
    hold_id = added.stdout.split()[2]
    assert run(config, "hold", "release", hold_id).exit_code == 0
    purged = run(config, "purge")
    assert "deleted 4 records through seq 4" in purged.stdout, purged.output
    assert run(config, "verify").exit_code == 0
    actions = [r.action for r in AuditQuery(database).search(AuditFilters(event_class="admin"), limit=50).records]
    assert sorted(actions) == ["audit.hold.add", "audit.hold.release", "audit.purge", "audit.purge"]


async def test_rotate_key(config: Path, cli_trail: AuditTrail, database: Database) -> None:
    before = set(cli_trail.keys.public_keys())
    rotated = run(config, "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    after = set(cli_trail.keys.public_keys())
    assert before < after
    assert len(after) == 2
    assert run(config, "verify").exit_code == 0


def test_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("audit: {nonsense: 1}\n")
    result = run(path, "verify")
    assert result.exit_code == 2
    assert "audit.nonsense: unknown key" in result.output


async def test_access_is_refused_when_it_cannot_be_recorded(
    config: Path, cli_trail: AuditTrail, database: Database
) -> None:
    sql(database, "ALTER TABLE audit_records RENAME TO audit_records_away")
    try:
        result = run(config, "query")
    finally:
        sql(database, "ALTER TABLE audit_records_away RENAME TO audit_records")
    assert result.exit_code == 1
    assert "Nothing was shown" in result.output
    assert "alice" not in result.stdout


async def test_verify_export_compares_the_configured_checkpoint_file(
    config: Path, cli_trail: AuditTrail, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    assert run(config, "export", "--out", str(out)).exit_code == 0
    keys = [arg for path in sorted(cli_trail.keys.key_dir.glob("*.pub")) for arg in ("--trusted-key", str(path))]
    verified = run(config, "verify", "--export", str(out), *keys)
    assert verified.exit_code == 0, verified.output
    assert "1 signed heads from outside the database match" in verified.stdout  # the checkpoint at 5
    # The copy outside the database disagrees with the export: the settings' checkpoint file is read.
    head_file = cli_trail.heads.path
    item = json.loads(head_file.read_text())
    head_file.write_text(json.dumps(item | {"head_hash": "a" * 64}) + "\n")
    disagrees = run(config, "verify", "--export", str(out), *keys)
    assert disagrees.exit_code == 1
    assert "FAILED: checkpoint 5 (checkpoints.jsonl line 1) signature invalid" in disagrees.stdout
    # An auditor's run without settings (keys given, no --config) compares only the heads it is given.
    alone = runner.invoke(audit_app, ["verify", "--export", str(out), *keys])
    assert alone.exit_code == 0, alone.output
