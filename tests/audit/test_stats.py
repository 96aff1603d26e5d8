"""Figures from the trail on SQLite and PostgreSQL: usage per user and model, requests/blocks/errors over time."""

from __future__ import annotations

from datetime import timedelta

from suite.audit import AuditStats, AuditTrail
from tests.audit.conftest import NOW, event


async def _fill(trail: AuditTrail) -> None:
    hour = timedelta(hours=1)
    for when, changes in (
        (NOW - 5 * hour, {"subject": "alice"}),
        (NOW - 5 * hour, {"subject": "alice", "action": "chat.completions.open", "status": "started"}),
        (NOW - 3 * hour, {"subject": "bob", "model": "llama-70b", "prompt_tokens": 100, "completion_tokens": 50}),
        (
            NOW - 3 * hour + timedelta(minutes=20),  # same bucket, not on its edge
            {"subject": "bob", "status": "error", "http_status": 400, "details": {"error": "content_filter"}},
        ),
        (NOW - 2 * hour, {"subject": "bob", "status": "error", "http_status": 502, "details": {"error": "upstream"}}),
        (NOW - 1 * hour, {"subject": "carol", "event_class": "auth", "action": "denied", "status": "denied"}),
        (NOW - 3 * hour + timedelta(minutes=40), {"subject": "bob", "event_class": "auth", "action": "login"}),
        (NOW - 30 * hour, {"subject": "alice"}),  # before the period
    ):
        await trail.record(event(time=when, **changes))


async def test_usage_per_user_and_model_counts_model_calls_only(trail: AuditTrail) -> None:
    await _fill(trail)
    stats = AuditStats(trail.database)
    since = NOW - timedelta(hours=24)
    by_user = {u.key: (u.requests, u.tokens) for u in stats.usage(since, by="subject")}
    # Opening records and the auth denial are not model calls; the call of 30 hours ago is outside.
    assert by_user == {"alice": (1, 15), "bob": (3, 180)}
    assert [u.key for u in stats.usage(since, by="model")] == ["llama-70b", "smollm2-135m-instruct"]
    (bob,) = stats.usage(since, subject="bob")
    assert (bob.key, bob.requests, bob.prompt_tokens, bob.completion_tokens) == (None, 3, 124, 56)
    (nobody,) = stats.usage(since, subject="dave")
    assert (nobody.requests, nobody.tokens) == (0, 0)


async def test_timeline_buckets_requests_blocks_and_errors(trail: AuditTrail) -> None:
    await _fill(trail)
    stats = AuditStats(trail.database)
    start = NOW - timedelta(hours=6)
    buckets = stats.timeline(start, NOW, buckets=6)
    assert len(buckets) == 6
    assert buckets[0].start == start
    assert [b.start - start for b in buckets][1] == timedelta(hours=1)
    assert sum(b.requests for b in buckets) == 4
    assert [(b.requests, b.blocked, b.errors) for b in buckets] == [
        (0, 0, 0),
        (1, 0, 0),  # alice (her stream's opening record is not counted)
        (0, 0, 0),
        (2, 1, 0),  # bob's answer, his prompt blocked by a guardrail, his login (no model call)
        (1, 0, 1),  # bob's upstream error
        (0, 1, 0),  # carol refused by the policy
    ]
