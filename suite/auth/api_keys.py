"""Managed API keys for services: created by admins, shown once, stored as SHA-256 only.

A key looks like ``suitekey_<key id>_<secret>``. The fixed prefix lets secret scanners
(gitleaks, GitHub push protection with a custom pattern) find leaked keys; the key id
names the key in lists and logs without revealing it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite.auth.principal import Principal
from suite.auth.tables import ApiKeyRow
from suite.db import Database
from suite.errors import AuthenticationFailed, InvalidRequest

KEY_PREFIX = "suitekey_"
KEY_PATTERN = re.compile(r"^suitekey_([0-9a-f]{12})_([A-Za-z0-9]{40})$")
_DURATION = re.compile(r"^(\d+)([dhm])$")


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: everything but the key."""

    key_id: str
    owner: str
    roles: list[str]
    models: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and _aware(self.expires_at) <= datetime.now(UTC):
            return "expired"
        return "active"


def parse_duration(text: str) -> timedelta:
    """'90d', '12h' or '30m' as a timedelta; InvalidRequest naming the value otherwise."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidRequest(f"Invalid duration {text!r}: use a number and d, h or m, e.g. 90d.", param="expires")
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


class ApiKeyStore:
    """Create, list, revoke and authenticate managed keys."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create(
        self, *, owner: str, roles: list[str], models: list[str], expires_in: timedelta | None, created_by: str
    ) -> tuple[str, ApiKeyInfo]:
        """A new key and its description; the key is returned only here."""
        key_id = secrets.token_hex(6)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        key = f"{KEY_PREFIX}{key_id}_{''.join(secrets.choice(alphabet) for _ in range(40))}"
        now = datetime.now(UTC)
        row = ApiKeyRow(
            key_id=key_id,
            key_sha256=_sha256(key),
            owner=owner,
            roles=sorted(set(roles)),
            models=sorted(set(models)),
            created_by=created_by,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
            revoked_at=None,
        )
        with self._db.sessions.begin() as session:
            session.add(row)
            info = _info(row)
        return key, info

    def list(self) -> list[ApiKeyInfo]:
        with self._db.session() as session:
            return [_info(row) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key by id (idempotent); InvalidRequest if there is no such key."""
        with self._db.sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise InvalidRequest(f"No API key with id {key_id!r}.", param="key_id")
            row.revoked_at = row.revoked_at or datetime.now(UTC)
            return _info(row)

    async def authenticate(self, credential: str) -> Principal:
        """The principal of an active key; AuthenticationFailed saying why otherwise."""
        if not KEY_PATTERN.match(credential):
            raise AuthenticationFailed("Malformed API key.")
        digest = _sha256(credential)

        def lookup(session: Session) -> ApiKeyInfo | None:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_sha256 == digest))
            return _info(row) if row else None

        info = await self._db.run(lookup)
        if info is None:
            raise AuthenticationFailed("Invalid API key.")
        if info.status != "active":
            raise AuthenticationFailed(f"API key {info.key_id} is {info.status}.")
        return Principal(
            subject=f"apikey:{info.key_id}",
            name=info.owner,
            auth_method="api_key",
            roles=frozenset(info.roles),
            allowed_models=frozenset(info.models) if info.models else None,
        )


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        owner=row.owner,
        roles=list(row.roles),
        models=list(row.models),
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at) if row.expires_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
    )
