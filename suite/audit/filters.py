"""Filters over the trail, shared by search and export, for SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from suite.audit.chain import utc
from suite.audit.tables import AuditRecordRow


@dataclass(frozen=True, kw_only=True)
class AuditFilters:
    """What to look for; every given filter must match. Times: from inclusive, to exclusive."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    subject: str | None = None
    model: str | None = None
    # One of the record's RAG collections.
    collection: str | None = None
    decision: str | None = None
    # A guardrail verdict: "NAME", "OUTCOME" or "NAME:OUTCOME", matched against each verdict's
    # "name" and "outcome" keys.
    verdict: str | None = None
    status: str | None = None
    event_class: str | None = None
    action: str | None = None
    # Case-insensitive substring of the stored prompt or answer (as the content policy stored them).
    text: str | None = None

    @property
    def time_only(self) -> bool:
        """True when only the time range filters: the result is a contiguous stretch of the chain."""
        return all(value is None for key, value in asdict(self).items() if key not in {"time_from", "time_to"})

    def describe(self) -> dict[str, Any]:
        """The filters that are set, as JSON values (for export headers and access records)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items() if v is not None}


def conditions(filters: AuditFilters, *, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the filters, for SQLite or PostgreSQL."""
    row = AuditRecordRow
    where: list[ColumnElement[bool]] = []
    if filters.time_from is not None:
        where.append(row.time >= utc(filters.time_from))
    if filters.time_to is not None:
        where.append(row.time < utc(filters.time_to))
    for name in ("subject", "model", "decision", "status", "event_class", "action"):
        value = getattr(filters, name)
        if value is not None:
            where.append(getattr(row, name) == value)
    if filters.collection is not None:
        where.append(_json_list_has(row.collections, [filters.collection], dialect=dialect))
    if filters.verdict is not None:
        name, _, outcome = filters.verdict.partition(":")
        wanted = [{"name": name, "outcome": outcome}] if outcome else [{"name": name}, {"outcome": name}]
        where.append(or_(*(_json_list_has(row.verdicts, [item], dialect=dialect) for item in wanted)))
    if filters.text is not None:
        where.append(
            or_(
                row.prompt.icontains(filters.text, autoescape=True), row.answer.icontains(filters.text, autoescape=True)
            )
        )
    return where


def _json_list_has(column: Any, items: list[Any], *, dialect: str) -> ColumnElement[bool]:
    """The JSON list in column contains every item (an item that is an object: one with those keys)."""
    if dialect == "postgresql":
        # The column is JSON (see tables.py); containment needs JSONB.
        contained: ColumnElement[bool] = cast(column, JSONB).op("@>")(literal(items, JSONB))
        return contained
    element = func.json_each(column).table_valued("value")
    (item,) = items
    if isinstance(item, dict):
        match = [func.json_extract(element.c.value, f"$.{key}") == value for key, value in item.items()]
    else:
        match = [element.c.value == item]
    return exists(select(literal(1)).select_from(element).where(*match))
