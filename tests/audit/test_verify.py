"""Verification: an intact chain passes; every kind of tampering is caught at the first bad record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from suite.audit import AuditTrail, KeyRing, load_public_keys, verify_database
from suite.audit.chain import format_time, parse_time, record_hash
from suite.audit.keys import checkpoint_message, key_id_of
from suite.audit.query import AuditQuery
from suite.db import Database
from tests.audit.conftest import fill, record_id_at, scalar, sql


async def test_intact_chain_verifies(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    report = verify_database(database, trail.keys.public_keys())
    assert report.ok, report.problem
    assert (report.records_checked, report.first_seq, report.last_seq) == (25, 1, 25)
    assert report.checkpoints_checked == 2  # at 10 and 20
    assert report.anchored_through == 20
    assert report.unanchored == 5


def test_empty_trail_verifies(database: Database, tmp_path: Path) -> None:
    report = verify_database(database, KeyRing(tmp_path).public_keys())
    assert report.ok
    assert report.records_checked == 0


async def test_edited_field_is_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    sql(database, "UPDATE audit_records SET subject = 'mallory' WHERE seq = 17")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq, problem.message) == ("edited", 17, "record 17 was edited")
    assert problem.record_id == record_id_at(database, 17)


async def test_edited_json_and_time_are_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 12)
    sql(database, "UPDATE audit_records SET collections = '[\"hr\"]' WHERE seq = 3")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.seq == 3
    assert problem.kind == "edited"
    sql(database, "UPDATE audit_records SET collections = '[]' WHERE seq = 3")
    assert verify_database(database, trail.keys.public_keys()).ok
    time = scalar(database, "SELECT time FROM audit_records WHERE seq = 5")
    sql(database, "UPDATE audit_records SET time = (SELECT time FROM audit_records WHERE seq = 1) WHERE seq = 5")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert time is not None
    assert problem is not None
    assert problem.seq == 5


async def test_edited_and_rehashed_record_is_caught_by_the_next_link(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    record = AuditQuery(database).get(record_id_at(database, 17))
    assert record is not None
    fields = {**record.model_dump(mode="json"), "subject": "mallory", "time": scalar_time(database, 17)}
    sql(
        database,
        "UPDATE audit_records SET subject = 'mallory', record_hash = :hash WHERE seq = 17",
        hash=record_hash(fields),
    )
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 17)
    assert problem.message == "record 17 was edited: record 18 no longer links to it"


def scalar_time(database: Database, seq: int) -> str:
    """The canonical time text of a record, read with raw SQL (SQLite gives text, PostgreSQL a datetime)."""
    value = scalar(database, "SELECT time FROM audit_records WHERE seq = :seq", seq=seq)
    return format_time(parse_time(value) if isinstance(value, str) else value)


async def test_deleted_record_is_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    sql(database, "DELETE FROM audit_records WHERE seq = 18")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq, problem.message) == ("missing", 18, "record 18 is missing (deleted)")


async def test_deleted_first_record_is_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 5)
    sql(database, "DELETE FROM audit_records WHERE seq = 1")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("missing", 1)


async def test_swapped_records_are_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    moved = record_id_at(database, 21)
    sql(database, "UPDATE audit_records SET seq = -1 WHERE seq = 20")
    sql(database, "UPDATE audit_records SET seq = 20 WHERE seq = 21")
    sql(database, "UPDATE audit_records SET seq = 21 WHERE seq = -1")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq, problem.record_id) == ("out_of_order", 20, moved)
    assert problem.message.startswith("records out of order at 20")


async def test_truncated_tail_is_caught_by_a_checkpoint_beyond(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 35)
    sql(database, "DELETE FROM audit_records WHERE seq > 27")
    sql(database, "UPDATE audit_chain_head SET seq = 27")  # a careful attacker fixes the head row too
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.kind == "truncated"
    assert problem.message == (
        "chain truncated after 27: checkpoint at 30 signs a head that no longer exists"
        " (records 28..30 are unaccounted for)"
    )


async def test_truncated_tail_without_a_checkpoint_is_caught_by_the_head(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    sql(database, "DELETE FROM audit_records WHERE seq > 22")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.message == "chain truncated after 22: the chain head is at 25"


async def test_rewritten_chain_is_caught_by_its_checkpoint(trail: AuditTrail, database: Database) -> None:
    """An attacker who re-hashes every record from 13 on still cannot re-sign checkpoint 20."""
    await fill(trail, 25)
    query = AuditQuery(database)
    prev = scalar(database, "SELECT record_hash FROM audit_records WHERE seq = 12")
    for seq in range(13, 26):
        record = query.get(record_id_at(database, seq))
        assert record is not None
        fields = record.model_dump(mode="json") | {"time": scalar_time(database, seq), "prev_hash": prev}
        if seq == 13:
            fields["answer"] = "Leave is unlimited."
        fields.pop("record_hash")
        new_hash = record_hash(fields)
        sql(
            database,
            "UPDATE audit_records SET answer = :answer, prev_hash = :prev, record_hash = :hash WHERE seq = :seq",
            answer=fields["answer"],
            prev=prev,
            hash=new_hash,
            seq=seq,
        )
        prev = new_hash
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("rewritten", 20)
    assert problem.message == "chain rewritten after 10: checkpoint at 20 signs a different head"


async def test_checkpoint_with_flipped_bytes_is_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    signature: str = scalar(database, "SELECT signature FROM audit_checkpoints WHERE seq = 20")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    sql(database, "UPDATE audit_checkpoints SET signature = :sig WHERE seq = 20", sig=flipped)
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert (problem.kind, problem.message) == ("checkpoint_invalid", "checkpoint 20 signature invalid")


async def test_checkpoint_moved_to_another_head_is_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 25)
    sql(database, "UPDATE audit_checkpoints SET seq = 21 WHERE seq = 20")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.message == "checkpoint 21 signature invalid"


async def test_checkpoint_signed_by_an_untrusted_key_is_caught(trail: AuditTrail, database: Database) -> None:
    """A forged checkpoint: well-formed and validly signed, but by the attacker's own key."""
    await fill(trail, 25)
    sql(database, "DELETE FROM audit_records WHERE seq > 20")
    sql(database, "DELETE FROM audit_checkpoints WHERE seq > 20")
    attacker = Ed25519PrivateKey.generate()
    head: str = scalar(database, "SELECT record_hash FROM audit_records WHERE seq = 15")
    time = "2026-01-01T00:00:00.000000Z"
    signature = attacker.sign(checkpoint_message(kind="periodic", seq=15, head_hash=head, time=time)).hex()
    sql(
        database,
        "INSERT INTO audit_checkpoints (seq, head_hash, time, key_id, signature, kind) "
        "VALUES (15, :head, :time, :key_id, :signature, 'periodic')",
        head=head,
        time="2026-01-01 00:00:00",
        key_id=key_id_of(attacker.public_key()),
        signature=signature,
    )
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.kind == "checkpoint_untrusted"
    assert problem.message.startswith("checkpoint 15 signed by an untrusted key")


async def test_key_rotation_old_and_new_checkpoints_verify(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 12)
    old_keys = trail.keys.public_keys()
    new_key = await _rotate(trail)
    await fill(trail, 10)
    key_ids = [row[0] for row in _rows(database, "SELECT key_id FROM audit_checkpoints ORDER BY seq")]
    (old_id,) = old_keys
    assert key_ids == [old_id, old_id, new_key]  # 10, 12 (signed at rotation), 22
    assert verify_database(database, trail.keys.public_keys()).ok
    # Trusting only the old key: the first checkpoint by the new one is untrusted, and vice versa.
    problem = verify_database(database, old_keys).problem
    assert problem is not None
    assert problem.kind == "checkpoint_untrusted"
    assert problem.seq == 22
    only_new = {new_key: trail.keys.public_keys()[new_key]}
    problem = verify_database(database, only_new).problem
    assert problem is not None
    assert problem.kind == "checkpoint_untrusted"
    assert problem.seq == 10


async def test_trusted_keys_from_files(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 12)
    public_files = sorted(trail.keys.key_dir.glob("*.pub"))
    assert verify_database(database, load_public_keys(public_files)).ok
    assert not verify_database(database, {}).ok


async def _rotate(trail: AuditTrail) -> str:
    import asyncio

    return (await asyncio.to_thread(trail.rotate_signing_key)).key_id


def _rows(database: Database, statement: str) -> list[tuple[object, ...]]:
    import sqlalchemy

    with database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sqlalchemy.text(statement))]


def test_problem_messages_name_files(tmp_path: Path) -> None:
    bogus = tmp_path / "x.pub"
    bogus.write_text(json.dumps({"not": "a key"}))
    with pytest.raises(ValueError, match=r"x\.pub: not a PEM public key"):
        load_public_keys([bogus])
