"""Exports: JSONL verifies on its own (whole, from the middle, filtered); edits to the file are caught."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from suite.audit import AuditFilters, AuditQuery, AuditTrail, load_public_keys, verify_export
from suite.db import Database
from tests.audit.conftest import days_ago, event, fill


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def save(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


async def exported(trail: AuditTrail, database: Database, tmp_path: Path, **filters: Any) -> Path:
    return write(tmp_path / "export.jsonl", list(AuditQuery(database).export(AuditFilters(**filters), keys=trail.keys)))


def public_keys(trail: AuditTrail) -> dict[str, Any]:
    # Loaded from the .pub files, as an outside auditor would receive them.
    return load_public_keys(sorted(trail.keys.key_dir.glob("*.pub")))


async def test_jsonl_round_trip_verifies_alone(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 25)
    path = await exported(trail, database, tmp_path)
    items = load(path)
    assert items[0]["type"] == "header"
    assert items[0]["contiguous"] is True
    assert [item["type"] for item in items[1:]] == ["record"] * 25 + ["checkpoint"] * 2 + ["end"]
    assert {"seq", "record_id", "prev_hash", "record_hash"} <= set(items[1])
    database.dispose()  # nothing below touches the database
    report = verify_export(path, public_keys(trail))
    assert report.ok, report.problem
    assert (report.records_checked, report.checkpoints_checked, report.records_proven) == (25, 2, 20)


async def test_range_from_the_middle_verifies(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 8, time=days_ago(3))
    await fill(trail, 17, time=days_ago(1))
    path = await exported(trail, database, tmp_path, time_from=days_ago(2))
    report = verify_export(path, public_keys(trail))
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq) == (9, 25)
    # Checkpoint 10 sits right after the start: it proves records 9 and 10, 20 proves up to 20.
    assert report.records_proven == 12


async def test_edited_export_line_is_caught(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 25)
    path = await exported(trail, database, tmp_path)
    items = load(path)
    items[7]["answer"] = "Something else entirely."
    save(path, items)
    report = verify_export(path, public_keys(trail))
    assert not report.ok
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq, report.problem.message) == ("edited", 7, "record 7 was edited")
    assert report.problem.record_id == items[7]["record_id"]


async def test_removed_and_cut_export_lines_are_caught(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 25)
    path = await exported(trail, database, tmp_path)
    items = load(path)
    save(path, items[:5] + items[6:])
    problem = verify_export(path, public_keys(trail)).problem
    assert problem is not None
    assert problem.message == "record 5 is missing (deleted)"
    # Cutting the last records off keeps the checkpoint at 20, which now points past the end.
    save(path, [item for item in items if item["type"] != "record" or item["seq"] <= 18])
    problem = verify_export(path, public_keys(trail)).problem
    assert problem is not None
    assert problem.kind == "truncated"


async def test_forged_checkpoint_line_is_caught(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 25)
    path = await exported(trail, database, tmp_path)
    items = load(path)
    checkpoint = next(item for item in items if item["type"] == "checkpoint")
    checkpoint["time"] = "2030-01-01T00:00:00.000000Z"
    save(path, items)
    problem = verify_export(path, public_keys(trail)).problem
    assert problem is not None
    assert problem.kind == "checkpoint_invalid"


async def test_filtered_export_verifies_record_by_record(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    for index in range(24):
        await trail.record(event(subject="bob" if index % 3 else "alice"))
    path = await exported(trail, database, tmp_path, subject="alice")
    report = verify_export(path, public_keys(trail))
    assert report.ok, report.problem
    assert report.records_checked == 8
    assert not report.contiguous
    items = load(path)
    items[2]["subject"] = "carol"
    save(path, items)
    assert not verify_export(path, public_keys(trail)).ok


async def test_not_an_export(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    problem = verify_export(path, {}).problem
    assert problem is not None
    assert problem.kind == "malformed"
    path.write_text("not json\n")
    assert verify_export(path, {}).problem is not None


async def test_csv_export(trail: AuditTrail, database: Database, tmp_path: Path) -> None:
    await fill(trail, 11)
    await trail.record(event(prompt='=HYPERLINK("http://evil")', collections=["hr", "legal"]))
    lines = list(AuditQuery(database).export(AuditFilters(), keys=trail.keys, fmt="csv"))
    rows = list(csv.DictReader(lines))
    records = [row for row in rows if row["type"] == "record"]
    checkpoints = [row for row in rows if row["type"] == "checkpoint"]
    assert len(records) == 12
    assert len(checkpoints) == 1
    assert records[-1]["prompt"].startswith("'=")  # not a formula when opened in a spreadsheet
    assert json.loads(records[-1]["collections"]) == ["hr", "legal"]
    assert records[0]["prev_hash"] == "0" * 64
    assert len(records[0]["record_hash"]) == 64
    assert checkpoints[0]["seq"] == "10"
    assert len(checkpoints[0]["signature"]) == 128
