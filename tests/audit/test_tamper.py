"""The tamper matrix: what an attacker with write access to the database (and to exports) can do
without the private signing key, each case failing verification at the first bad place.

The trail has 25 records with checkpoints at 10 and 20 (``checkpoint_every_records: 10``), also in
the checkpoint file outside the database. The attacker edits with SQL (SQLAlchemy Core, as anyone
with the database's credentials could) and knows the documented hash and checkpoint formats.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from suite.audit import AuditFilters, AuditQuery, AuditTrail, load_public_keys, read_heads, verify_database
from suite.audit.chain import RECORD_FIELDS, from_row, record_hash
from suite.audit.cli import audit_app
from suite.audit.keys import checkpoint_message, export_end_message, key_id_of
from suite.audit.offline import verify_export
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.audit.walk import Problem
from suite.db import Database
from tests.audit.conftest import fill

RECORDS = cast(sqlalchemy.Table, AuditRecordRow.__table__)
CHECKPOINTS = cast(sqlalchemy.Table, AuditCheckpointRow.__table__)
HEAD = cast(sqlalchemy.Table, AuditChainHeadRow.__table__)
# A value of the right type, different from what fill() stores, for every field an attacker may edit.
EDITS: dict[str, Any] = {
    "record_id": "00000000-0000-0000-0000-000000000000",
    "time": datetime(2020, 1, 1, tzinfo=UTC),
    "event_class": "admin",
    "action": "keys.create",
    "request_id": "forged",
    "subject": "mallory",
    "roles": ["admin"],
    "auth_method": "cli",
    "client_address": "10.0.0.66",
    "route": "/v1/embeddings",
    "model": "other-model",
    "backend": "http://elsewhere",
    "collections": ["hr"],
    "chunk_ids": ["c1"],
    "decision": "deny",
    "decision_rule": "forged-rule",
    "verdicts": [{"name": "pii", "outcome": "allow"}],
    "status": "denied",
    "http_status": 418,
    "prompt_tokens": 99999,
    "completion_tokens": 77777,
    "latency_ms": 0.5,
    "content_policy": "none",
    "prompt": "Nothing to see here.",
    "answer": "Leave is unlimited.",
    "details": {"forged": True},
    "prev_hash": "f" * 64,
    "record_hash": "e" * 64,
}


def test_every_field_has_an_edit() -> None:
    assert set(EDITS) == set(RECORD_FIELDS) - {"seq"}


def run(database: Database, statement: Any, *rows: dict[str, Any]) -> None:
    with database.engine.begin() as connection:
        connection.execute(statement, list(rows) if rows else None)


def rows(database: Database) -> list[dict[str, Any]]:
    with database.engine.connect() as connection:
        result = connection.execute(sqlalchemy.select(*RECORDS.columns).order_by(RECORDS.c.seq))
        return [from_row(row._mapping) for row in result]


def check(trail: AuditTrail, database: Database, *, with_file: bool = True, keys: Any = None) -> Problem | None:
    """verify as `suite audit verify` does: the key directory, the checkpoint file, the rhythm."""
    heads = read_heads(trail.heads.path) if with_file else []
    trusted = keys if keys is not None else trail.keys.public_keys()
    return verify_database(database, trusted, heads=heads, every_records=10).problem


def rewrite(database: Database, records: list[dict[str, Any]], *, from_seq: int) -> None:
    """Replace the records from from_seq on by these, re-chained from the record before (head row too)."""
    prev = rows(database)[from_seq - 2]["record_hash"] if from_seq > 1 else "0" * 64
    chained = []
    for offset, fields in enumerate(records):
        linked = {**fields, "seq": from_seq + offset, "prev_hash": prev}
        linked["record_hash"] = record_hash({k: v for k, v in linked.items() if k != "record_hash"})
        prev = linked["record_hash"]
        chained.append(linked)
    run(database, RECORDS.delete().where(RECORDS.c.seq >= from_seq))
    values = [{**fields, "time": datetime.fromisoformat(fields["time"])} for fields in chained]
    run(database, RECORDS.insert(), *values)
    run(database, HEAD.update().values(seq=chained[-1]["seq"], record_hash=prev, checkpoint_seq=chained[-1]["seq"]))


def forged(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "record_id": "11111111-1111-1111-1111-111111111111", "subject": "adam", "action": "keys.create"}


@pytest.fixture
async def filled(trail: AuditTrail, database: Database) -> AuditTrail:
    await fill(trail, 25)
    assert check(trail, database) is None  # untouched: passes
    assert len(read_heads(trail.heads.path)) == 2
    return trail


# --- the database ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(EDITS))
async def test_an_edit_of_any_field_is_caught_at_its_record(filled: AuditTrail, database: Database, field: str) -> None:
    run(database, RECORDS.update().where(RECORDS.c.seq == 17).values({field: EDITS[field]}))
    problem = check(filled, database)
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 17), problem


async def test_an_edit_of_seq_is_caught(filled: AuditTrail, database: Database) -> None:
    run(database, RECORDS.update().where(RECORDS.c.seq == 17).values(seq=1000))
    problem = check(filled, database)
    assert problem is not None
    assert (problem.kind, problem.seq, problem.message) == ("missing", 17, "record 17 is missing (deleted)")


async def test_an_edit_with_its_hash_recomputed_is_caught_by_the_next_link(
    filled: AuditTrail, database: Database
) -> None:
    record = rows(database)[16] | {"subject": "mallory"}
    new_hash = record_hash({k: v for k, v in record.items() if k != "record_hash"})
    run(database, RECORDS.update().where(RECORDS.c.seq == 17).values(subject="mallory", record_hash=new_hash))
    problem = check(filled, database)
    assert problem is not None
    assert problem.message == "record 17 was edited: record 18 no longer links to it"


@pytest.mark.parametrize(("where", "first_bad"), [(1, 1), (13, 13), (25, 25)])
async def test_a_deleted_record_is_caught(filled: AuditTrail, database: Database, where: int, first_bad: int) -> None:
    run(database, RECORDS.delete().where(RECORDS.c.seq == where))
    problem = check(filled, database)
    assert problem is not None
    assert problem.seq == first_bad
    assert problem.kind in ("missing", "truncated")


async def test_a_truncated_tail_with_head_row_and_checkpoints_fixed_is_caught_by_the_file(
    filled: AuditTrail, database: Database
) -> None:
    """Finding 1 of issue 17: records, head row and checkpoints all cut back to 17."""
    run(database, RECORDS.delete().where(RECORDS.c.seq > 17))
    run(database, CHECKPOINTS.delete().where(CHECKPOINTS.c.seq > 17))
    last = rows(database)[-1]
    run(database, HEAD.update().values(seq=17, record_hash=last["record_hash"], checkpoint_seq=10))
    problem = check(filled, database)
    assert problem is not None
    assert problem.message == (
        "chain truncated after 17: checkpoint at 20 (checkpoints.jsonl line 2) signs a head that no longer exists"
        " (records 18..20 are unaccounted for)"
    )


async def test_a_truncated_tail_keeping_its_checkpoint_is_caught_by_the_database(
    filled: AuditTrail, database: Database
) -> None:
    run(database, RECORDS.delete().where(RECORDS.c.seq > 17))
    run(database, HEAD.update().values(seq=17))
    problem = check(filled, database, with_file=False)
    assert problem is not None
    assert problem.message == (
        "chain truncated after 17: checkpoint at 20 signs a head that no longer exists"
        " (records 18..20 are unaccounted for)"
    )


async def test_reordered_records_are_caught(filled: AuditTrail, database: Database) -> None:
    run(database, RECORDS.update().where(RECORDS.c.seq == 20).values(seq=-1))
    run(database, RECORDS.update().where(RECORDS.c.seq == 21).values(seq=20))
    run(database, RECORDS.update().where(RECORDS.c.seq == -1).values(seq=21))
    problem = check(filled, database)
    assert problem is not None
    assert (problem.kind, problem.seq) == ("out_of_order", 20)


async def test_an_insertion_with_a_rechained_tail_is_caught_by_the_checkpoint(
    filled: AuditTrail, database: Database
) -> None:
    records = rows(database)
    rewrite(database, [forged(records[12]), *records[12:]], from_seq=13)
    problem = check(filled, database)
    assert problem is not None
    assert problem.message == "chain rewritten after 10: checkpoint at 20 signs a different head"


@pytest.mark.parametrize("with_file", [True, False])
async def test_an_insertion_with_the_checkpoints_after_it_deleted_is_caught(
    filled: AuditTrail, database: Database, with_file: bool
) -> None:
    """Finding 2 of issue 17: forged record at 13, tail re-chained, checkpoints after 10 deleted."""
    records = rows(database)
    rewrite(database, [forged(records[12]), *records[12:]], from_seq=13)
    run(database, CHECKPOINTS.delete().where(CHECKPOINTS.c.seq > 10))
    problem = check(filled, database, with_file=with_file)
    assert problem is not None
    if with_file:
        assert problem.message == (
            "chain rewritten after 10: checkpoint at 20 (checkpoints.jsonl line 2) signs a different head"
        )
    else:  # the count rhythm: 11 records in a row without a checkpoint
        assert problem.kind == "rhythm"
        assert problem.message.startswith("no checkpoint covers records 11..21, though the writer signs one every 10")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("signature", "00" * 64, "checkpoint 20 signature invalid"),
        ("head_hash", "a" * 64, "checkpoint 20 signature invalid"),
        ("seq", 19, "checkpoint 19 signature invalid"),
        ("time", datetime(2030, 1, 1, tzinfo=UTC), "checkpoint 20 signature invalid"),
        ("kind", "purge_anchor", "checkpoint 20 signature invalid"),
        ("key_id", "0123456789abcdef", "checkpoint 20 signed by an untrusted key (0123456789abcdef)"),
    ],
)
async def test_an_altered_checkpoint_is_caught(
    filled: AuditTrail, database: Database, column: str, value: Any, message: str
) -> None:
    run(database, CHECKPOINTS.update().where(CHECKPOINTS.c.seq == 20).values({column: value}))
    problem = check(filled, database, with_file=False)
    assert problem is not None
    assert problem.message == message


@pytest.mark.parametrize("with_file", [True, False])
async def test_a_deleted_checkpoint_is_caught(filled: AuditTrail, database: Database, with_file: bool) -> None:
    run(database, CHECKPOINTS.delete().where(CHECKPOINTS.c.seq == 10))
    problem = check(filled, database, with_file=with_file)
    assert problem is not None
    if with_file:
        assert problem.message == (
            "checkpoint 10 (checkpoints.jsonl line 1) is missing from the database: checkpoints were deleted there"
        )
    else:
        assert problem.kind == "rhythm"
        assert problem.seq == 1


async def test_an_altered_head_in_the_checkpoint_file_is_caught(filled: AuditTrail, database: Database) -> None:
    lines = filled.heads.path.read_text().splitlines()
    item = json.loads(lines[1]) | {"seq": 25}
    filled.heads.path.write_text("\n".join([lines[0], json.dumps(item)]) + "\n")
    problem = check(filled, database)
    assert problem is not None
    assert problem.message == "checkpoint 25 (checkpoints.jsonl line 2) signature invalid"


def resign(database: Database, attacker: Ed25519PrivateKey) -> None:
    """Every checkpoint signed again with the attacker's key over the (rewritten) records."""
    key_id = key_id_of(attacker.public_key())
    records = {r["seq"]: r for r in rows(database)}
    with database.engine.begin() as connection:
        stored = connection.execute(sqlalchemy.select(CHECKPOINTS)).mappings().all()
        for row in stored:
            head_hash = records[row["seq"]]["record_hash"]
            time = from_row({**records[row["seq"]], "time": row["time"]})["time"]
            message = checkpoint_message(kind=row["kind"], seq=row["seq"], head_hash=head_hash, time=time)
            values = {"head_hash": head_hash, "key_id": key_id, "signature": attacker.sign(message).hex()}
            connection.execute(CHECKPOINTS.update().where(CHECKPOINTS.c.id == row["id"]).values(values))


async def test_a_chain_resigned_with_an_attackers_key_is_caught(filled: AuditTrail, database: Database) -> None:
    records = rows(database)
    rewrite(database, [forged(records[12]), *records[12:]], from_seq=13)
    attacker = Ed25519PrivateKey.generate()
    resign(database, attacker)
    problem = check(filled, database, with_file=False)
    assert problem is not None
    assert problem.message.startswith("checkpoint 10 signed by an untrusted key")


async def test_a_replaced_public_key_file_is_caught(filled: AuditTrail, database: Database) -> None:
    """The attacker also writes the key directory: their public key in the genuine key's file."""
    records = rows(database)
    rewrite(database, [forged(records[12]), *records[12:]], from_seq=13)
    attacker = Ed25519PrivateKey.generate()
    resign(database, attacker)
    [genuine] = filled.keys.key_dir.glob("*.pub")
    pem = attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    genuine.write_bytes(pem)
    with pytest.raises(ValueError, match="the public key file was replaced"):
        filled.keys.public_keys()
    # Named as the attacker's own key instead: the checkpoint file's heads, signed by the genuine key, are untrusted.
    genuine.rename(genuine.with_name(f"audit-signing-{key_id_of(attacker.public_key())}.pub"))
    problem = check(filled, database)
    assert problem is not None
    assert problem.message.startswith("checkpoint 10 (checkpoints.jsonl line 1) signed by an untrusted key")


async def test_verifying_a_copy_leaves_it_byte_for_byte_unchanged(
    filled: AuditTrail, database: Database, tmp_path: Path
) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("a byte-for-byte copy is a file: SQLite")
    await filled.stop()
    copy = tmp_path / "copy.db"
    # The way an admin copies a live SQLite database (its WAL included): the backup API.
    source = sqlite3.connect(database.engine.url.database or "")
    with sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    config = tmp_path / "copy.yaml"
    config.write_text(json.dumps({"data_dir": str(tmp_path), "database": {"url": f"sqlite:///{copy}"}}))
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    result = CliRunner().invoke(audit_app, ["verify", "--no-record", "--config", str(config)])
    assert result.exit_code == 0, result.output
    attacker = Database(f"sqlite:///{copy}")
    run(attacker, RECORDS.update().where(RECORDS.c.seq == 3).values(subject="mallory"))
    attacker.dispose()  # the last connection closed: SQLite writes its WAL back into the file
    tampered = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert tampered != before
    failed = CliRunner().invoke(audit_app, ["verify", "--config", str(config)])
    assert failed.exit_code == 1
    assert "FAILED: record 3 was edited" in failed.output
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == tampered


# --- an export ------------------------------------------------------------------------------


def exported(trail: AuditTrail, database: Database, path: Path) -> list[dict[str, Any]]:
    lines = list(AuditQuery(database).export(AuditFilters(), keys=trail.keys))
    path.write_text("".join(lines))
    return [json.loads(line) for line in lines]


def line(item: dict[str, Any]) -> str:
    """An export line as the suite writes it (compact JSON: the end line signs the header's bytes)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"


def verify_file(trail: AuditTrail, path: Path, items: list[dict[str, Any]], *, keys: Any = None) -> Problem | None:
    path.write_text("".join(line(item) for item in items))
    trusted = keys if keys is not None else load_public_keys(trail.keys.key_dir.glob("*.pub"))
    return verify_export(path, trusted, every_records=10).problem


@pytest.fixture
async def export_items(filled: AuditTrail, database: Database, tmp_path: Path) -> list[dict[str, Any]]:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("an export is the same file from either database")
    items = exported(filled, database, tmp_path / "export.jsonl")
    assert verify_file(filled, tmp_path / "export.jsonl", items) is None
    return items


def at(items: list[dict[str, Any]], seq: int) -> int:
    return next(i for i, item in enumerate(items) if item.get("type") == "record" and item["seq"] == seq)


@pytest.mark.parametrize("field", sorted(EDITS))
async def test_an_export_edit_of_any_field_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, field: str
) -> None:
    value = EDITS[field]
    items = [dict(item) for item in export_items]
    items[at(items, 17)][field] = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, datetime) else value
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 17), problem


@pytest.mark.parametrize(
    ("seq", "message_start"), [(1, "the signed end names 25 records"), (13, "record 13 is missing")]
)
async def test_an_export_line_deleted_at_the_start_or_in_the_middle_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, seq: int, message_start: str
) -> None:
    items = [item for item in export_items if not (item.get("type") == "record" and item["seq"] == seq)]
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert problem.message.startswith(message_start), problem


@pytest.mark.parametrize("drop_checkpoints", [True, False])
async def test_export_lines_cut_at_the_end_are_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, drop_checkpoints: bool
) -> None:
    items = [i for i in export_items if not (i.get("type") == "record" and i["seq"] > 22)]
    if drop_checkpoints:
        items = [i for i in items if not (i.get("type") == "checkpoint" and i["seq"] > 10)]
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    if drop_checkpoints:  # 11..22 with no checkpoint: the rhythm fails before the end is read
        assert (problem.kind, problem.seq) == ("rhythm", 11)
    else:
        assert problem.kind == "end"
        assert "records after 22 were dropped" in problem.message


async def test_reordered_export_lines_are_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path
) -> None:
    items = list(export_items)
    a, b = at(items, 20), at(items, 21)
    items[a], items[b] = items[b], items[a]
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    # Seq 21 comes where 20 is due: the first bad place is 20.
    assert (problem.kind, problem.seq, problem.message) == ("missing", 20, "record 20 is missing (deleted)")


@pytest.mark.parametrize("drop_checkpoints", [True, False])
async def test_an_export_insertion_with_a_rechained_tail_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, drop_checkpoints: bool
) -> None:
    records = [i for i in export_items if i.get("type") == "record"]
    tail = [forged(records[12]), *records[12:]]
    prev = records[11]["record_hash"]
    for offset, original in enumerate(tail):
        item = tail[offset] = {**original, "seq": 13 + offset, "prev_hash": prev}
        body = {k: v for k, v in item.items() if k not in ("type", "record_hash")}
        item["record_hash"] = prev = record_hash(body)
    others = [i for i in export_items if i.get("type") in ("checkpoint", "end")]
    if drop_checkpoints:
        others = [i for i in others if not (i.get("type") == "checkpoint" and i["seq"] > 10)]
    items = [export_items[0], *records[:12], *tail, *others]
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    if drop_checkpoints:
        assert problem.kind == "rhythm"
        assert problem.seq == 11
    else:
        assert problem.message == "chain rewritten after 10: checkpoint at 20 (line 29) signs a different head"


@pytest.mark.parametrize("field", ["signature", "head_hash", "seq", "time", "kind", "key_id"])
async def test_an_altered_export_checkpoint_line_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, field: str
) -> None:
    items = [dict(item) for item in export_items]
    checkpoint = next(i for i in items if i.get("type") == "checkpoint" and i["seq"] == 20)
    checkpoint[field] = {
        "signature": "00" * 64,
        "head_hash": "a" * 64,
        "seq": 19,
        "time": "2030-01-01T00:00:00.000000Z",
    }.get(field, {"kind": "heartbeat", "key_id": "0123456789abcdef"}.get(field))
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert problem.kind in ("checkpoint_invalid", "checkpoint_untrusted")
    assert problem.seq == checkpoint["seq"]


async def test_a_deleted_export_checkpoint_line_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path
) -> None:
    items = [i for i in export_items if not (i.get("type") == "checkpoint" and i["seq"] == 20)]
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert problem.kind == "rhythm"
    assert problem.message.startswith("no checkpoint covers records 11..21")


@pytest.mark.parametrize("field", ["records", "last_seq", "last_hash", "checkpoints", "header_sha256", "signature"])
async def test_an_altered_end_line_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path, field: str
) -> None:
    items = [dict(item) for item in export_items]
    items[-1][field] = {"records": 24, "last_seq": 24, "checkpoints": 1}.get(field, "0" * 64)
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert problem.message.startswith("the end line (line 29) is signature invalid")


async def test_an_altered_export_header_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path
) -> None:
    items = [dict(item) for item in export_items]
    items[0]["filters"] = {"subject": "alice"}
    problem = verify_file(filled, tmp_path / "export.jsonl", items)
    assert problem is not None
    assert problem.message == "the header (line 1) was changed after the export was signed"


async def test_an_export_resigned_with_an_attackers_key_is_caught(
    filled: AuditTrail, export_items: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Records re-chained, every checkpoint and the end line signed again with the attacker's key."""
    attacker = Ed25519PrivateKey.generate()
    key_id = key_id_of(attacker.public_key())
    items = [dict(item) for item in export_items]
    for item in items:
        if item.get("type") == "checkpoint":
            message = checkpoint_message(
                kind=item["kind"], seq=item["seq"], head_hash=item["head_hash"], time=item["time"]
            )
            item |= {"key_id": key_id, "signature": attacker.sign(message).hex()}
    path = tmp_path / "export.jsonl"
    header = line(items[0]).encode()
    end = {k: v for k, v in items[-1].items() if k not in ("type", "key_id", "signature")}
    end["header_sha256"] = hashlib.sha256(header).hexdigest()
    items[-1] = {"type": "end", **end, "key_id": key_id, "signature": attacker.sign(export_end_message(end)).hex()}
    problem = verify_file(filled, path, items)
    assert problem is not None
    assert problem.message.startswith("checkpoint 10 (line 27) signed by an untrusted key")
    # With the attacker's public key handed over as the genuine one's file, loading it refuses.
    [genuine] = filled.keys.key_dir.glob("*.pub")
    fake = tmp_path / genuine.name
    fake.write_bytes(
        attacker.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="the public key file was replaced"):
        load_public_keys([fake])


async def test_a_retired_key_signing_after_its_rotation_is_caught(trail: AuditTrail, database: Database) -> None:
    """Someone holding the old private key after a rotation signs a head the new key should have."""
    import asyncio

    await fill(trail, 12)
    old = trail.keys.current()
    await asyncio.to_thread(trail.rotate_signing_key)
    await fill(trail, 13)  # checkpoints: 10 and 12 (its retirement) by the old key, 22 by the new one
    assert check(trail, database) is None
    head = rows(database)[-1]
    time = "2030-01-01T00:00:00.000000Z"
    message = checkpoint_message(kind="periodic", seq=25, head_hash=head["record_hash"], time=time)
    values = {"seq": 25, "head_hash": head["record_hash"], "time": datetime(2030, 1, 1, tzinfo=UTC), "kind": "periodic"}
    run(database, CHECKPOINTS.insert().values(values | {"key_id": old.key_id, "signature": old.sign(message)}))
    problem = check(trail, database)
    assert problem is not None
    assert problem.kind == "checkpoint_untrusted"
    assert problem.message.startswith(f"checkpoint 25 is signed by key {old.key_id}, which checkpoint 12 had retired")
