"""Identity tables: managed API keys, quota counters, browser sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from suite.db import Base


class ApiKeyRow(Base):
    """A service API key; the key itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    # Models the key may call at most (RBAC still applies); empty: as RBAC allows.
    models: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QuotaCounterRow(Base):
    """Usage of one subject in one window (a minute for requests, a UTC day for tokens)."""

    __tablename__ = "quota_counters"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "requests" | "tokens"
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class WebSessionRow(Base):
    """A browser session; the cookie value itself is never stored, only its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the cookie value
    subject: Mapped[str] = mapped_column(String(200), index=True)
    # {"name": ..., "roles": [...], "groups": [...]} as resolved at login.
    principal: Mapped[dict[str, Any]] = mapped_column(JSON)
    id_token: Mapped[str | None] = mapped_column(Text)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
