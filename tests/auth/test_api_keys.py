"""Managed API keys: shown once, stored hashed, expiring and revocable, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from suite.auth import ApiKeyStore, parse_duration
from suite.auth.tables import ApiKeyRow
from suite.db import Database
from suite.errors import AuthenticationFailed, InvalidRequest


@pytest.fixture
def store(database: Database) -> ApiKeyStore:
    return ApiKeyStore(database)


def create(store: ApiKeyStore, **changes: object) -> tuple[str, str]:
    options: dict[str, object] = {
        "owner": "batch-job",
        "roles": ["employee"],
        "models": [],
        "expires_in": timedelta(days=90),
        "created_by": "adam",
    } | changes
    key, info = store.create(**options)  # type: ignore[arg-type]
    return key, info.key_id


async def test_key_authenticates_as_its_owner(store: ApiKeyStore) -> None:
    key, key_id = create(store, models=["smollm2-135m-instruct"])
    assert key.startswith("suitekey_")
    principal = await store.authenticate(key)
    assert principal.subject == f"apikey:{key_id}"
    assert principal.name == "batch-job"
    assert principal.roles == frozenset({"employee"})
    assert principal.allowed_models == frozenset({"smollm2-135m-instruct"})
    assert principal.auth_method == "api_key"


def test_only_the_hash_is_stored(store: ApiKeyStore, database: Database) -> None:
    key, _ = create(store)
    secret = key.rsplit("_", 1)[1]
    with database.session() as session:
        row = session.scalars(select(ApiKeyRow)).one()
    assert secret not in repr(vars(row))
    assert len(row.key_sha256) == 64


async def test_revoked_key_is_refused(store: ApiKeyStore) -> None:
    key, key_id = create(store)
    store.revoke(key_id)
    with pytest.raises(AuthenticationFailed, match=f"{key_id} is revoked"):
        await store.authenticate(key)
    assert store.list()[0].status == "revoked"


async def test_expired_key_is_refused(store: ApiKeyStore) -> None:
    key, key_id = create(store, expires_in=timedelta(seconds=-1))
    with pytest.raises(AuthenticationFailed, match=f"{key_id} is expired"):
        await store.authenticate(key)


async def test_unknown_and_malformed_keys_are_refused(store: ApiKeyStore) -> None:
    key, _ = create(store)
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(AuthenticationFailed, match="Invalid API key"):
        await store.authenticate(forged)
    with pytest.raises(AuthenticationFailed, match="Malformed"):
        await store.authenticate("suitekey_nothing")


def test_revoking_an_unknown_key_names_it(store: ApiKeyStore) -> None:
    with pytest.raises(InvalidRequest, match="'000000000000'"):
        store.revoke("000000000000")


@pytest.mark.parametrize(("text", "expected"), [("90d", timedelta(days=90)), ("12h", timedelta(hours=12))])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3w", "0d", "d", "-1d", ""])
def test_bad_durations_are_named(text: str) -> None:
    with pytest.raises(InvalidRequest, match="Invalid duration"):
        parse_duration(text)
