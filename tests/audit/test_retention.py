"""Retention: only an expired prefix is purged, behind a signed anchor; legal holds stop it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from suite.audit import AuditFilters, AuditQuery, AuditTrail, LegalHolds, verify_database
from suite.config import AuditSettings
from suite.db import Database
from suite.errors import InvalidRequest
from tests.audit.conftest import NOW, days_ago, event, fill, scalar, sql


@pytest.fixture
def audit_settings() -> AuditSettings:
    return AuditSettings(checkpoint_every_records=10, retention_days={"default": 30, "admin": 365})


async def test_purge_removes_the_expired_prefix_and_the_chain_still_verifies(
    trail: AuditTrail, database: Database
) -> None:
    await fill(trail, 12, time=days_ago(40))
    await fill(trail, 5, time=days_ago(10))
    report = trail.purge(now=NOW)
    assert (report.purged, report.through_seq, report.stopped_at) == (12, 12, 13)
    assert report.reason == "record 13 is within retention (model_request: 30 days)"
    assert scalar(database, "SELECT min(seq) FROM audit_records") == 13
    assert scalar(database, "SELECT count(*) FROM audit_checkpoints WHERE kind = 'purge_anchor' AND seq = 12") == 1
    verified = verify_database(database, trail.keys.public_keys())
    assert verified.ok, verified.problem
    assert (verified.first_seq, verified.last_seq) == (13, 18)  # 18: the purge's own record
    (purge_record,) = AuditQuery(database).search(AuditFilters(action="audit.purge")).records
    assert purge_record.event_class == "admin"
    assert purge_record.details["purged"] == 12
    # Writing on after a purge continues the same chain.
    await fill(trail, 3)
    assert verify_database(database, trail.keys.public_keys()).ok


async def test_a_longer_retention_stops_the_prefix(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 3, time=days_ago(40))
    await trail.record(event(event_class="admin", action="keys.create", time=days_ago(40)))
    await fill(trail, 3, time=days_ago(40))
    report = trail.purge(now=NOW)
    assert (report.purged, report.stopped_at) == (3, 4)
    assert report.reason == "record 4 is within retention (admin: 365 days)"
    assert verify_database(database, trail.keys.public_keys()).ok


async def test_dry_run_deletes_nothing(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 4, time=days_ago(40))
    report = trail.purge(now=NOW, dry_run=True)
    assert (report.purged, report.through_seq, report.stopped_at, report.dry_run) == (4, 4, None, True)
    assert scalar(database, "SELECT count(*) FROM audit_records") == 4
    assert scalar(database, "SELECT count(*) FROM audit_checkpoints WHERE kind = 'purge_anchor'") == 0


async def test_everything_purged_then_more_records(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 4, time=days_ago(40))
    assert trail.purge(now=NOW + timedelta(days=400)).purged == 4
    # Only the purge's own record is left; then purge that too.
    assert trail.purge(now=NOW + timedelta(days=800)).purged == 1
    assert scalar(database, "SELECT count(*) FROM audit_records") == 1  # the second purge's record
    assert verify_database(database, trail.keys.public_keys()).ok
    await fill(trail, 2)
    report = verify_database(database, trail.keys.public_keys())
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq) == (6, 8)


async def test_legal_hold_by_subject(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 3, time=days_ago(40), subject="alice")
    await fill(trail, 2, time=days_ago(40), subject="mallory")
    await fill(trail, 3, time=days_ago(40), subject="alice")
    holds = LegalHolds(database)
    hold = holds.add(subject="mallory", reason="case 2026-17", created_by="carol")
    report = trail.purge(now=NOW)
    assert (report.purged, report.stopped_at) == (3, 4)
    assert report.reason == f"record 4 is under legal hold {hold.id}"
    assert [h.id for h in holds.list()] == [hold.id]
    holds.release(hold.id)
    assert holds.list() == []
    assert holds.list(include_released=True)[0].released_at is not None
    assert trail.purge(now=NOW).purged == 5
    assert verify_database(database, trail.keys.public_keys()).ok


async def test_legal_hold_by_time_range(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 2, time=days_ago(60))
    await fill(trail, 2, time=days_ago(50))
    await fill(trail, 2, time=days_ago(40))
    LegalHolds(database).add(time_from=days_ago(55), time_to=days_ago(45), reason="audit by regulator", created_by="c")
    report = trail.purge(now=NOW)
    assert (report.purged, report.stopped_at) == (2, 3)
    assert verify_database(database, trail.keys.public_keys()).ok


def test_hold_validation(database: Database) -> None:
    holds = LegalHolds(database)
    with pytest.raises(InvalidRequest, match="reason"):
        holds.add(reason=" ", created_by="c")
    with pytest.raises(InvalidRequest, match="ends before"):
        holds.add(reason="x", created_by="c", time_from=days_ago(1), time_to=days_ago(2))
    with pytest.raises(InvalidRequest, match="No legal hold"):
        holds.release(999_999)


async def test_deletion_after_a_purge_is_still_caught(trail: AuditTrail, database: Database) -> None:
    await fill(trail, 12, time=days_ago(40))
    await fill(trail, 5)
    trail.purge(now=NOW)
    sql(database, "DELETE FROM audit_records WHERE seq = 13")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.message == "record 13 is missing (deleted)"


async def test_a_purge_anchor_cannot_be_faked_by_relabelling(trail: AuditTrail, database: Database) -> None:
    """Deleting a prefix and calling a periodic checkpoint an anchor breaks its signature."""
    await fill(trail, 25)
    sql(database, "DELETE FROM audit_records WHERE seq <= 10")
    sql(database, "UPDATE audit_checkpoints SET kind = 'purge_anchor' WHERE seq = 10")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.message == "checkpoint 10 signature invalid"
    sql(database, "UPDATE audit_checkpoints SET kind = 'periodic' WHERE seq = 10")
    problem = verify_database(database, trail.keys.public_keys()).problem
    assert problem is not None
    assert problem.message == "record 1 is missing (deleted)"
