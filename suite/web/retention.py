"""Chat retention: conversations untouched for ``web.retention_days`` are deleted, and the purge is audited."""

from __future__ import annotations

import asyncio

import structlog

from suite.audit import AuditEvent
from suite.web.deps import WebContext

log = structlog.get_logger(__name__)


async def purge_once(web: WebContext) -> int:
    """One retention purge (nothing without ``web.retention_days``); how many conversations it deleted."""
    days = web.settings.web.retention_days
    if days is None:
        return 0
    deleted = await web.store.purge_older_than(days)
    await web.record(
        AuditEvent(
            event_class="admin",
            action="web.retention.purge",
            subject="system",
            details={"retention_days": days, "conversations_deleted": deleted},
        )
    )
    if deleted:
        log.info("chat retention purge", deleted=deleted, retention_days=days)
    return deleted


async def run_purges(web: WebContext) -> None:
    """Purge on start and then every ``web.purge_interval_s`` until cancelled; a failed purge is retried next time."""
    while True:
        try:
            await purge_once(web)
        except Exception:
            log.exception("chat retention purge failed")
        await asyncio.sleep(web.settings.web.purge_interval_s)
