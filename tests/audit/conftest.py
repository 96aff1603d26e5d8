"""Fixtures of the audit tests: a trail on each database kind, events, raw SQL for tampering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from suite.audit import AuditEvent, AuditTrail
from suite.config import AuditSettings
from suite.db import Database

NOW = datetime.now(UTC)


def event(**changes: Any) -> AuditEvent:
    """A model request record; keyword arguments change fields."""
    fields: dict[str, Any] = {
        "event_class": "model_request",
        "action": "chat.completions",
        "subject": "alice",
        "roles": ["employee"],
        "auth_method": "oidc_bearer",
        "route": "/v1/chat/completions",
        "model": "smollm2-135m-instruct",
        "decision": "allow",
        "decision_rule": "employees-chat",
        "content_policy": "full",
        "prompt": "What is our leave policy?",
        "answer": "30 days.",
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "latency_ms": 41.5,
    } | changes
    return AuditEvent(**fields)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def sql(database: Database, statement: str, **params: Any) -> None:
    """Run raw SQL as an attacker with database access would."""
    with database.engine.begin() as connection:
        connection.execute(sqlalchemy.text(statement), params)


def scalar(database: Database, statement: str, **params: Any) -> Any:
    with database.engine.connect() as connection:
        return connection.execute(sqlalchemy.text(statement), params).scalar()


def record_id_at(database: Database, seq: int) -> str:
    value: str = scalar(database, "SELECT record_id FROM audit_records WHERE seq = :seq", seq=seq)
    return value


@pytest.fixture
def audit_settings() -> AuditSettings:
    return AuditSettings(checkpoint_every_records=10, batch_wait_ms=5)


@pytest.fixture
async def trail(audit_settings: AuditSettings, database: Database, tmp_path: Path) -> AsyncIterator[AuditTrail]:
    """A started trail whose keys live in tmp_path/audit-keys."""
    audit = AuditTrail(audit_settings, database, data_dir=tmp_path)
    await audit.start()
    yield audit
    await audit.stop()


async def fill(trail: AuditTrail, count: int, **changes: Any) -> list[str]:
    """Record count events one after another (so each lands in its own batch, in order)."""
    return [await trail.record(event(**changes)) for _ in range(count)]
