"""The witness: a second suite's witness routes countersign the trail's heads, and a truncation is
caught from the witness's copy alone (the database and the checkpoint file both cut back)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from suite.audit import AuditTrail, KeyRing, SiemForwarder, read_heads, verify_database
from suite.audit.cli import audit_app
from suite.audit.keys import checkpoint_message
from suite.audit.offline import read_witness_heads
from suite.config import Settings, SiemDestination, SiemSettings
from suite.db import Database
from suite.gateway.audit import create_witness_app
from tests.audit.conftest import fill, scalar, sql
from tests.support import running


def witness_settings(host: Path, trail: AuditTrail) -> Settings:
    """The witness host: its own data directory and audit key, the trail's public keys for origin gw."""
    (host / "gw-keys").mkdir(parents=True)
    for public in trail.keys.key_dir.glob("*.pub"):
        shutil.copy(public, host / "gw-keys")
    return Settings(data_dir=host, audit={"witness": {"origins": [{"name": "gw", "keys": ["gw-keys"]}]}})


def check_refusals(url: str, served: str, trail: AuditTrail) -> None:
    """The witness refuses what the trail's key did not sign, and a second head at a seq it holds."""
    heads_url = f"{url}/audit/witness/gw/heads"
    head = json.loads(served.splitlines()[1])
    fields = {k: head[k] for k in ("seq", "time", "head_hash", "key_id", "signature", "kind")}
    forged = fields | {"head_hash": "a" * 64}
    bad = httpx.post(heads_url, json={"heads": [forged]})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "the head at seq 20 is signature invalid"
    message = checkpoint_message(kind="periodic", seq=20, head_hash="a" * 64, time=fields["time"])
    rewritten = forged | {"signature": trail.keys.current().sign(message)}
    conflict = httpx.post(heads_url, json={"heads": [rewritten]})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "witness_conflict"
    unknown = httpx.post(f"{url}/audit/witness/other/heads", json={"heads": [fields]})
    assert unknown.status_code == 404
    assert httpx.get(heads_url).text == served  # nothing of the refused calls kept


async def test_a_truncation_is_caught_from_the_witness_alone(
    trail: AuditTrail, database: Database, tmp_path: Path
) -> None:
    await fill(trail, 25)  # checkpoints at 10 and 20
    host = tmp_path / "witness-host"
    with running(create_witness_app(witness_settings(host, trail))) as witness:
        destination = SiemDestination(name="w", kind="witness", url=f"{witness.url}/audit/witness", origin="gw")
        forwarder = SiemForwarder(SiemSettings(destinations=[destination]), database, data_dir=tmp_path)
        try:
            [report] = await asyncio.to_thread(forwarder.catch_up)
            [again] = await asyncio.to_thread(forwarder.catch_up)
        finally:
            forwarder.close()
        assert (report.forwarded, report.heads, report.cursor, report.error) == (0, 2, 25, None)  # heads, no records
        assert (again.heads, again.error) == (0, None)
        heads_url = f"{witness.url}/audit/witness/gw/heads"
        served = (await asyncio.to_thread(httpx.get, heads_url)).text
        witness_key = KeyRing(host / "audit-keys").public_keys()
        countersigned = read_witness_heads(served.splitlines(), name="w", witness_keys=witness_key)
        assert countersigned == read_heads(trail.heads.path)

        await asyncio.to_thread(check_refusals, witness.url, served, trail)
        # The attacker cuts the trail back to 17: database (records, head row, checkpoints) and checkpoint file.
        await trail.stop()
        sql(database, "DELETE FROM audit_records WHERE seq > 17")
        sql(database, "DELETE FROM audit_checkpoints WHERE seq > 17")
        last = scalar(database, "SELECT record_hash FROM audit_records WHERE seq = 17")
        sql(database, "UPDATE audit_chain_head SET seq = 17, record_hash = :h, checkpoint_seq = 10", h=last)
        trail.heads.path.write_text(trail.heads.path.read_text().splitlines()[0] + "\n")
        keys = trail.keys.public_keys()
        assert verify_database(database, keys, heads=read_heads(trail.heads.path), every_records=10).ok

        found = verify_database(database, keys, heads=countersigned, every_records=10).problem
        assert found is not None
        assert found.message == (
            "chain truncated after 17: checkpoint at 20 (witness w line 2) signs a head that no longer exists"
            " (records 18..20 are unaccounted for)"
        )
        config = tmp_path / "suite.yaml"
        settings = {
            "data_dir": str(tmp_path),
            "database": {"url": database.url},
            "audit": {"checkpoint_every_records": 10},
        }
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        [witness_pub] = sorted((host / "audit-keys").glob("*.pub"))
        args = [
            "verify",
            "--no-record",
            "--witness",
            heads_url,
            "--witness-key",
            str(witness_pub),
            "--config",
            str(config),
        ]
        caught = await asyncio.to_thread(CliRunner().invoke, audit_app, args)
    assert caught.exit_code == 1, caught.output
    assert f"FAILED: chain truncated after 17: checkpoint at 20 (witness {heads_url} line 2)" in caught.stdout
    # A countersignature by another key than the witness's is refused as unusable input.
    saved = tmp_path / "witness.jsonl"
    saved.write_text(served)
    own_key = sorted(trail.keys.key_dir.glob("*.pub"))
    wrong = CliRunner().invoke(
        audit_app,
        ["verify", "--heads-from-witness", str(saved), "--witness-key", str(own_key[0]), "--config", str(config)],
    )
    assert wrong.exit_code == 2
    assert "witness.jsonl line 1: the witness's countersignature is by an untrusted key" in wrong.output
