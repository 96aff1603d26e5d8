"""The session store on SQLite and PostgreSQL: hashed ids, idle timeout, absolute lifetime."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from suite.auth import Principal
from suite.auth.sessions import WebSessionStore, session_id_for
from suite.auth.tables import WebSessionRow
from suite.config import SessionSettings
from suite.db import Database
from tests.auth.login.flow import backdate, now, session_row

ALICE = Principal(
    subject="alice",
    name="Alice Adler",
    auth_method="oidc_bearer",
    roles=frozenset({"employee"}),
    groups=frozenset({"finance", "staff"}),
)
SETTINGS = SessionSettings(max_age_s=8 * 3600, idle_timeout_s=3600)


@pytest.fixture
def store(database: Database) -> WebSessionStore:
    return WebSessionStore(database, SETTINGS)


async def test_a_session_gives_back_its_principal_as_a_session_principal(store: WebSessionStore) -> None:
    cookie, created = await store.create(ALICE, id_token="header.payload.signature")

    found = await store.lookup(cookie)

    assert found is not None
    assert found.principal.subject == "alice"
    assert found.principal.name == "Alice Adler"
    assert found.principal.roles == ALICE.roles
    assert found.principal.groups == ALICE.groups
    assert found.principal.auth_method == "session"
    assert found.id_token == "header.payload.signature"
    assert found.csrf_token == created.csrf_token
    assert found.expires_at - found.created_at == timedelta(seconds=SETTINGS.max_age_s)


async def test_only_the_hash_of_the_cookie_is_stored(store: WebSessionStore, database: Database) -> None:
    cookie, created = await store.create(ALICE, id_token=None)

    with database.session() as session:
        row = session.scalars(select(WebSessionRow)).one()
    assert row.id == hashlib.sha256(cookie.encode()).hexdigest() == created.session_id
    assert cookie not in repr(vars(row))
    assert len(cookie) == 43  # 32 random bytes


async def test_unknown_and_malformed_cookies_find_nothing(store: WebSessionStore) -> None:
    await store.create(ALICE, id_token=None)

    assert await store.lookup("A" * 43) is None
    assert await store.lookup("' OR 1=1 --") is None
    assert await store.lookup("") is None


async def test_an_idle_session_is_deleted_on_lookup(store: WebSessionStore, database: Database) -> None:
    cookie, _ = await store.create(ALICE, id_token=None)
    backdate(database, cookie, last_seen_at=now() - timedelta(seconds=SETTINGS.idle_timeout_s + 1))

    assert await store.lookup(cookie) is None
    assert session_row(database, cookie) is None


async def test_an_absolutely_expired_session_is_deleted_on_lookup(store: WebSessionStore, database: Database) -> None:
    cookie, _ = await store.create(ALICE, id_token=None)
    backdate(database, cookie, expires_at=now() - timedelta(seconds=1))

    assert await store.lookup(cookie) is None
    assert session_row(database, cookie) is None


async def test_lookup_and_touch_reset_the_idle_timeout(store: WebSessionStore, database: Database) -> None:
    cookie, _ = await store.create(ALICE, id_token=None)
    backdate(database, cookie, last_seen_at=now() - timedelta(seconds=SETTINGS.idle_timeout_s - 10))

    found = await store.lookup(cookie)

    assert found is not None
    assert now() - found.last_seen_at < timedelta(seconds=5)
    backdate(database, cookie, last_seen_at=now() - timedelta(seconds=SETTINGS.idle_timeout_s - 10))
    assert await store.touch(cookie)
    row = session_row(database, cookie)
    assert row is not None
    assert await store.lookup(cookie) is not None


async def test_touch_does_not_revive_an_expired_session(store: WebSessionStore, database: Database) -> None:
    cookie, _ = await store.create(ALICE, id_token=None)
    backdate(database, cookie, expires_at=now() - timedelta(seconds=1))

    assert not await store.touch(cookie)
    assert await store.lookup(cookie) is None


async def test_delete_ends_a_session_and_is_idempotent(store: WebSessionStore) -> None:
    cookie, _ = await store.create(ALICE, id_token=None)
    other, _ = await store.create(ALICE, id_token=None)

    await store.delete(cookie)
    await store.delete(cookie)

    assert await store.lookup(cookie) is None
    assert await store.lookup(other) is not None


async def test_a_new_session_clears_out_dead_ones(store: WebSessionStore, database: Database) -> None:
    idle, _ = await store.create(ALICE, id_token=None)
    expired, _ = await store.create(ALICE, id_token=None)
    live, _ = await store.create(ALICE, id_token=None)
    backdate(database, idle, last_seen_at=now() - timedelta(hours=2))
    backdate(database, expired, expires_at=now() - timedelta(minutes=1))

    await store.create(ALICE, id_token=None)

    assert session_row(database, idle) is None
    assert session_row(database, expired) is None
    assert session_row(database, live) is not None
    assert session_id_for(live) == hashlib.sha256(live.encode()).hexdigest()
