"""Figures from the trail: usage (requests, tokens) per user or model, and requests, blocks and errors over time.

The trail is the record of every model call, so usage is counted from it rather than from a
second set of counters: what the audit console charts is what the records say. Counted in SQL
(one GROUP BY over the time index), for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, not_, or_, select

from suite.audit.chain import utc
from suite.audit.tables import AuditRecordRow
from suite.db import Database

# The records that are model calls (a stream's opening record and feedback are not).
MODEL_ACTIONS = ("chat.completions", "completions", "embeddings")
UsageKey = Literal["subject", "model"]


@dataclass(frozen=True)
class Usage:
    """Model calls and their tokens, for one user or model (``key``; None: everything asked for)."""

    key: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Bucket:
    """One stretch of time: model calls, blocked calls (policy or guardrail), failed calls."""

    start: datetime
    requests: int
    blocked: int
    errors: int


class AuditStats:
    """Counts over the trail (reading it is the caller's to record, as with search)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def usage(
        self,
        time_from: datetime,
        time_to: datetime | None = None,
        *,
        by: UsageKey | None = None,
        subject: str | None = None,
    ) -> list[Usage]:
        """Model calls in [time_from, time_to), grouped by user or model (largest first), or one total."""
        row = AuditRecordRow
        where = [row.event_class == "model_request", row.action.in_(MODEL_ACTIONS), *_between(time_from, time_to)]
        if subject is not None:
            where.append(row.subject == subject)
        key = getattr(row, by) if by is not None else None
        columns: list[Any] = [
            func.count(),
            func.coalesce(func.sum(row.prompt_tokens), 0),
            func.coalesce(func.sum(row.completion_tokens), 0),
        ]
        statement = select(*([key] if key is not None else []), *columns).where(*where)
        if key is not None:
            statement = statement.group_by(key)
        with self._db.session() as session:
            rows = [tuple(r) for r in session.execute(statement)]
        if key is None:
            ((requests, prompt, completion),) = rows
            return [Usage(None, int(requests), int(prompt), int(completion))]
        found = [Usage(k, int(n), int(p), int(c)) for k, n, p, c in rows]
        return sorted(found, key=lambda u: (-u.tokens, -u.requests, u.key or ""))

    def timeline(self, time_from: datetime, time_to: datetime, *, buckets: int = 24) -> list[Bucket]:
        """Requests, blocks and errors in ``buckets`` equal stretches of [time_from, time_to), empty ones too."""
        start, end = utc(time_from), utc(time_to)
        width = max(1, math.ceil((end - start).total_seconds() / buckets))
        row = AuditRecordRow
        # Floor division: "/" would be true division in SQLAlchemy 2 and group each record on its own.
        index = ((_epoch(row.time, self._db.engine.dialect.name) - int(start.timestamp())) // width).label("bucket")
        blocked = or_(row.status == "denied", row.details["error"].as_string() == "content_filter")
        call = and_(row.event_class == "model_request", row.action.in_(MODEL_ACTIONS))
        statement = (
            select(
                index,
                func.sum(case((call, 1), else_=0)),
                func.sum(case((blocked, 1), else_=0)),
                func.sum(case((and_(row.status == "error", not_(blocked)), 1), else_=0)),
            )
            .where(*_between(start, end))
            .group_by(index)
        )
        counts: dict[int, tuple[int, int, int]] = {}
        with self._db.session() as session:
            for bucket, requests, blocks, errors in session.execute(statement):
                before = counts.get(int(bucket), (0, 0, 0))
                counts[int(bucket)] = (before[0] + int(requests), before[1] + int(blocks), before[2] + int(errors))
        return [
            Bucket(datetime.fromtimestamp(start.timestamp() + i * width, tz=start.tzinfo), *counts.get(i, (0, 0, 0)))
            for i in range(buckets)
        ]


def _between(time_from: datetime, time_to: datetime | None) -> list[ColumnElement[bool]]:
    where = [AuditRecordRow.time >= utc(time_from)]
    if time_to is not None:
        where.append(AuditRecordRow.time < utc(time_to))
    return where


def _epoch(column: Any, dialect: str) -> ColumnElement[int]:
    # Whole seconds since 1970; SQLite keeps the time as text, which strftime reads.
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return cast(func.strftime("%s", column), Integer)
