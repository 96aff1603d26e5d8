"""Server-side browser sessions: the cookie holds a random value, the database only its SHA-256.

A session is created after a successful OIDC login and keeps what web pages need: the
principal as it was at login (name, roles, groups), the ID token (the hint for the IdP's
logout) and a CSRF token for form posts. Every lookup enforces the absolute lifetime
(``max_age_s``) and the idle timeout (``idle_timeout_s``) and deletes a session past
either, so a copied cookie stops working when its session would have.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from suite.auth.principal import Principal
from suite.auth.tables import WebSessionRow
from suite.config import SessionSettings
from suite.db import Database

# secrets.token_urlsafe(32): 43 characters. Anything else is refused before the database is asked.
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# last_seen_at is written at most this often (and at most every tenth of the idle timeout),
# so a busy page does not write on every request; the idle timeout is exact to within it.
_TOUCH_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True)
class WebSession:
    """A live session as web routes see it."""

    session_id: str  # the SHA-256 of the cookie value: safe to log
    principal: Principal
    id_token: str | None
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def session_id_for(cookie_value: str) -> str:
    """The stored id of a session: the SHA-256 (hex) of its cookie value."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()


class WebSessionStore:
    """Create, look up, touch and delete browser sessions (async: the database work runs on a worker)."""

    def __init__(self, database: Database, settings: SessionSettings) -> None:
        self._db = database
        self._max_age = timedelta(seconds=settings.max_age_s)
        self._idle = timedelta(seconds=settings.idle_timeout_s)
        self._touch_interval = min(_TOUCH_INTERVAL, self._idle / 10)

    async def create(self, principal: Principal, *, id_token: str | None) -> tuple[str, WebSession]:
        """A new session for the principal: the cookie value (returned only here) and the session."""
        cookie_value = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = WebSessionRow(
            id=session_id_for(cookie_value),
            subject=principal.subject,
            principal={"name": principal.name, "roles": sorted(principal.roles), "groups": sorted(principal.groups)},
            id_token=id_token,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._max_age,
        )

        def insert(session: Session) -> WebSession:
            # Dead sessions of anyone go on each login, so the table stays bounded without a timer.
            dead = or_(WebSessionRow.expires_at <= now, WebSessionRow.last_seen_at <= now - self._idle)
            session.execute(delete(WebSessionRow).where(dead))
            session.add(row)
            return _session(row)

        return cookie_value, await self._db.run(insert)

    async def lookup(self, cookie_value: str) -> WebSession | None:
        """The live session for a cookie value, touched; None (and the row deleted) when it has expired."""
        if not _COOKIE_VALUE.match(cookie_value):
            return None
        session_id = session_id_for(cookie_value)

        def find(session: Session) -> WebSession | None:
            row = session.get(WebSessionRow, session_id)
            if row is None:
                return None
            now = datetime.now(UTC)
            if not self._alive(row, now):
                session.delete(row)
                return None
            if now - _aware(row.last_seen_at) >= self._touch_interval:
                row.last_seen_at = now
            return _session(row)

        return await self._db.run(find)

    async def touch(self, cookie_value: str) -> bool:
        """Mark the session as used now (resets the idle timeout); False when it is gone or expired."""
        session_id = session_id_for(cookie_value)

        def mark(session: Session) -> bool:
            row = session.get(WebSessionRow, session_id)
            now = datetime.now(UTC)
            if row is None or not self._alive(row, now):
                return False
            row.last_seen_at = now
            return True

        return await self._db.run(mark)

    async def delete(self, cookie_value: str) -> None:
        """End the session (idempotent)."""
        session_id = session_id_for(cookie_value)
        await self._db.run(lambda session: session.execute(delete(WebSessionRow).where(WebSessionRow.id == session_id)))

    def _alive(self, row: WebSessionRow, now: datetime) -> bool:
        return now < _aware(row.expires_at) and now < _aware(row.last_seen_at) + self._idle


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _strings(value: Any) -> frozenset[str]:
    return frozenset(item for item in value if isinstance(item, str)) if isinstance(value, list) else frozenset()


def _session(row: WebSessionRow) -> WebSession:
    stored = row.principal if isinstance(row.principal, dict) else {}
    name = stored.get("name")
    principal = Principal(
        subject=row.subject,
        name=name if isinstance(name, str) and name else row.subject,
        auth_method="session",
        roles=_strings(stored.get("roles")),
        groups=_strings(stored.get("groups")),
    )
    return WebSession(
        session_id=row.id,
        principal=principal,
        id_token=row.id_token,
        csrf_token=row.csrf_token,
        created_at=_aware(row.created_at),
        last_seen_at=_aware(row.last_seen_at),
        expires_at=_aware(row.expires_at),
    )
