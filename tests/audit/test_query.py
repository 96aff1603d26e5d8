"""Search: every filter, keyset pagination with an opaque cursor, single records."""

from __future__ import annotations

import pytest

from suite.audit import AuditFilters, AuditQuery, AuditTrail
from suite.errors import InvalidRequest
from tests.audit.conftest import days_ago, event


@pytest.fixture
async def query(trail: AuditTrail) -> AuditQuery:
    await trail.record(
        event(time=days_ago(10), subject="alice", collections=["hr"], prompt="Where is 100% of the fund?")
    )
    await trail.record(event(time=days_ago(5), subject="bob", model="llama-70b", answer="The FUND is safe."))
    await trail.record(
        event(
            time=days_ago(4),
            subject="bob",
            status="denied",
            decision="deny",
            event_class="auth",
            action="denied",
            verdicts=[{"name": "pii", "outcome": "masked"}, {"name": "toxicity", "outcome": "pass"}],
        )
    )
    await trail.record(
        event(
            time=days_ago(1),
            subject="carol",
            collections=["legal", "hr"],
            verdicts=[{"name": "pii", "outcome": "blocked"}],
        )
    )
    await trail.record(event(time=days_ago(0), subject="alice", event_class="audit_access", action="audit.query"))
    return AuditQuery(trail.database)


def subjects(query: AuditQuery, **filters: object) -> list[str | None]:
    page = query.search(AuditFilters(**filters), limit=100)  # type: ignore[arg-type]
    return [record.subject for record in page.records]


def test_no_filter_newest_first(query: AuditQuery) -> None:
    assert subjects(query) == ["alice", "carol", "bob", "bob", "alice"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"time_from": days_ago(6), "time_to": days_ago(0.5)}, ["carol", "bob", "bob"]),
        ({"subject": "bob"}, ["bob", "bob"]),
        ({"model": "llama-70b"}, ["bob"]),
        ({"collection": "hr"}, ["carol", "alice"]),
        ({"collection": "h"}, []),
        ({"decision": "deny"}, ["bob"]),
        ({"verdict": "pii"}, ["carol", "bob"]),
        ({"verdict": "masked"}, ["bob"]),
        ({"verdict": "pii:blocked"}, ["carol"]),
        ({"verdict": "toxicity:masked"}, []),
        ({"status": "denied"}, ["bob"]),
        ({"event_class": "audit_access"}, ["alice"]),
        ({"action": "denied"}, ["bob"]),
        ({"text": "fund"}, ["bob", "alice"]),
        ({"text": "100%"}, ["alice"]),
        ({"text": "1_0"}, []),
        ({"subject": "bob", "verdict": "pii", "status": "denied"}, ["bob"]),
    ],
)
def test_filters(query: AuditQuery, filters: dict[str, object], expected: list[str]) -> None:
    assert subjects(query, **filters) == expected


def test_cursor_pages_through_everything_once(query: AuditQuery) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = query.search(cursor=cursor, limit=2)
        seen += [record.seq for record in page.records]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [5, 4, 3, 2, 1]
    assert pages == 3


def test_cursor_keeps_filters_and_is_checked(query: AuditQuery) -> None:
    first = query.search(AuditFilters(subject="bob"), limit=1)
    assert first.next_cursor is not None
    second = query.search(AuditFilters(subject="bob"), cursor=first.next_cursor, limit=1)
    assert [r.seq for r in first.records + second.records] == [3, 2]
    assert second.next_cursor is None
    with pytest.raises(InvalidRequest, match="cursor"):
        query.search(cursor="not-a-cursor")
    with pytest.raises(InvalidRequest, match="limit"):
        query.search(limit=0)


def test_get(query: AuditQuery) -> None:
    newest = query.search(limit=1).records[0]
    record = query.get(newest.record_id)
    assert record == newest
    assert record is not None
    assert record.time.tzinfo is not None
    assert len(record.record_hash) == 64
    assert query.get("00000000-0000-0000-0000-000000000000") is None
