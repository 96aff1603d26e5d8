"""``/web/api/audit``: the audit console's chain verification, chart and usage figures (role route ``audit``).

Searching, showing and exporting go straight to the ``/v1/audit`` API with the session; only the
verification, which the API does not offer over HTTP, lives here. It checks the stored chain against
the gateway's own public keys and is itself an audit record (``audit.verify``) written before the work.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from suite.audit import AuditStats, KeyRing, key_dir_of, verify_database
from suite.auth import Principal
from suite.errors import InvalidRequest
from suite.web.charts import timeline_svg
from suite.web.deps import WebContext, WebDep, WebPrincipalDep, audit_event

router = APIRouter(prefix="/web/api/audit", tags=["web"], include_in_schema=False)


@router.post("/verify")
async def verify(request: Request, web: WebDep, principal: WebPrincipalDep) -> dict[str, Any]:
    """Verify the whole stored chain; the report names the first bad record, if any."""
    await _allowed(request, web, principal, "audit.verify")
    settings = web.settings
    trusted = KeyRing(key_dir_of(settings.audit, settings.data_dir)).public_keys()
    report = await asyncio.to_thread(verify_database, web.gateway.database, trusted)
    return asdict(report)


# The periods the console offers, and how many bars each gets.
PERIODS = {"24h": (timedelta(hours=24), 24), "7d": (timedelta(days=7), 28), "30d": (timedelta(days=30), 30)}
PeriodQuery = Annotated[Literal["24h", "7d", "30d"], Query()]


async def _allowed(
    request: Request, web: WebContext, principal: Principal, action: str, details: dict[str, Any] | None = None
) -> None:
    """Refuse anyone without the audit route (PermissionDenied, audited); record the access otherwise."""
    decision = web.gateway.policy.require(principal, "audit")  # PermissionDenied (audited) for anyone else
    await web.gateway.audit.record(
        audit_event(
            request,
            principal,
            event_class="audit_access",
            action=action,
            decision="allow",
            decision_rule=decision.rule,
            details=details or {},
        )
    )


def _window(period: str) -> tuple[datetime, datetime, int]:
    if period not in PERIODS:
        raise InvalidRequest("period must be one of 24h, 7d, 30d.", param="period")
    length, buckets = PERIODS[period]
    # Ends at the next full hour, so the bars are whole hours (or days) and stay put between reloads.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - length, end, buckets


@router.get("/stats")
async def stats(
    request: Request, web: WebDep, principal: WebPrincipalDep, period: PeriodQuery = "24h"
) -> dict[str, Any]:
    """Requests, blocks and errors over the period, and usage (calls, tokens) per user and per model."""
    await _allowed(request, web, principal, "audit.stats", {"period": period})
    start, end, buckets = _window(period)
    figures = AuditStats(web.gateway.database)
    run = web.gateway.database.workers.run
    timeline = await run(figures.timeline, start, end, buckets=buckets)
    by_user = await run(figures.usage, start, end, by="subject")
    by_model = await run(figures.usage, start, end, by="model")

    def usage(rows: list[Any]) -> list[dict[str, Any]]:
        return [{"key": u.key, "requests": u.requests, "tokens": u.tokens} for u in rows]

    return {
        "period": period,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timeline": [
            {"start": b.start.isoformat(), "requests": b.requests, "blocked": b.blocked, "errors": b.errors}
            for b in timeline
        ],
        "by_user": usage(by_user),
        "by_model": usage(by_model),
    }


@router.get("/chart.svg")
async def chart(
    request: Request,
    web: WebDep,
    principal: WebPrincipalDep,
    period: PeriodQuery = "24h",
    lang: Annotated[Literal["en", "de"], Query()] = "en",
) -> Response:
    """The chart of requests, blocks and errors over the period, as an SVG image."""
    await _allowed(request, web, principal, "audit.chart", {"period": period})
    start, end, buckets = _window(period)
    timeline = await web.gateway.database.workers.run(
        AuditStats(web.gateway.database).timeline, start, end, buckets=buckets
    )
    return Response(
        timeline_svg(timeline, lang=lang), media_type="image/svg+xml", headers={"cache-control": "no-store"}
    )
