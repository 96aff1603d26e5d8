"""Quotas: requests per minute and tokens per day, persisted, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from suite.auth import Principal, QuotaEnforcer
from suite.config import QuotaSettings
from suite.db import Database
from suite.errors import QuotaExceeded

ALICE = Principal("alice", "Alice", "oidc_bearer", frozenset({"employee"}))
ADAM = Principal("adam", "Adam", "oidc_bearer", frozenset({"employee", "admin"}))

SETTINGS = QuotaSettings(
    default={"requests_per_minute": 3, "tokens_per_day": 100},
    roles={"admin": {"requests_per_minute": 10, "tokens_per_day": None}},
    subjects={"carol": {"requests_per_minute": 1}},
)


async def test_requests_per_minute(database: Database) -> None:
    quotas = QuotaEnforcer(SETTINGS, database)
    for _ in range(3):
        await quotas.admit(ALICE)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.admit(ALICE)
    assert 1 <= caught.value.retry_after_s <= 60
    assert "3 requests per minute" in caught.value.message
    await quotas.admit(ADAM)  # someone else's counter


async def test_tokens_per_day(database: Database) -> None:
    quotas = QuotaEnforcer(QuotaSettings(default={"tokens_per_day": 100}), database)
    await quotas.admit(ALICE)
    await quotas.charge_tokens(ALICE, 60)
    await quotas.admit(ALICE)
    await quotas.charge_tokens(ALICE, 60)
    with pytest.raises(QuotaExceeded, match="daily token quota of 100") as caught:
        await quotas.admit(ALICE)
    assert caught.value.retry_after_s <= 86_400


async def test_counters_survive_a_restart(database: Database) -> None:
    await QuotaEnforcer(SETTINGS, database).charge_tokens(ALICE, 100)
    # A new enforcer on a new engine: what a restarted (or second) gateway sees.
    reopened = Database(database.url)
    try:
        with pytest.raises(QuotaExceeded):
            await QuotaEnforcer(SETTINGS, reopened).admit(ALICE)
    finally:
        reopened.dispose()


def test_limits_most_generous_role_and_subject_override(database: Database) -> None:
    quotas = QuotaEnforcer(SETTINGS, database)
    assert quotas.limits_for(ADAM).requests_per_minute == 10
    assert quotas.limits_for(ADAM).tokens_per_day is None  # admin: unlimited beats the default
    assert quotas.limits_for(ALICE).requests_per_minute == 3
    carol = Principal("carol", "Carol", "oidc_bearer", frozenset({"admin"}))
    assert quotas.limits_for(carol).requests_per_minute == 1


async def test_disabled_quotas_admit_everything(database: Database) -> None:
    quotas = QuotaEnforcer(QuotaSettings(enabled=False, default={"requests_per_minute": 1}), database)
    for _ in range(10):
        await quotas.admit(ALICE)
