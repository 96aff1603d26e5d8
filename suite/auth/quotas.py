"""Quotas: requests per minute and tokens per UTC day, per principal, kept in the database.

Counters live in the suite's database, so they survive a restart and are shared by every
gateway replica on the same PostgreSQL. Windows are fixed (the current minute, the
current UTC day); each increment is one atomic upsert.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from suite.auth.principal import Principal
from suite.auth.tables import QuotaCounterRow
from suite.config import QuotaLimits, QuotaSettings
from suite.db import Database
from suite.errors import QuotaExceeded

_MINUTE = 60
_DAY = 86_400


class QuotaEnforcer:
    """Admits requests within a principal's limits and charges the tokens they used."""

    def __init__(self, settings: QuotaSettings, database: Database) -> None:
        self._settings = settings
        self._db = database

    def limits_for(self, principal: Principal) -> QuotaLimits:
        """Subject entry, else the most generous of the principal's roles, else the default."""
        if principal.subject in self._settings.subjects:
            return self._settings.subjects[principal.subject]
        by_role = [self._settings.roles[r] for r in principal.roles if r in self._settings.roles]
        if not by_role:
            return self._settings.default
        return QuotaLimits(
            requests_per_minute=_most_generous([q.requests_per_minute for q in by_role]),
            tokens_per_day=_most_generous([q.tokens_per_day for q in by_role]),
        )

    async def admit(self, principal: Principal) -> None:
        """Count one request; QuotaExceeded with the seconds until the window resets if over a limit."""
        if not self._settings.enabled:
            return
        limits = self.limits_for(principal)
        now = time.time()
        minute, day = _window(now, _MINUTE), _window(now, _DAY)

        def check(session: Session) -> tuple[str, float] | None:
            if limits.tokens_per_day is not None:
                used = session.scalar(
                    select(QuotaCounterRow.used).where(
                        QuotaCounterRow.subject == principal.subject,
                        QuotaCounterRow.kind == "tokens",
                        QuotaCounterRow.window_start == day,
                    )
                )
                if (used or 0) >= limits.tokens_per_day:
                    return f"the daily token quota of {limits.tokens_per_day}", day + _DAY - now
            if limits.requests_per_minute is not None:
                count = _increment(session, principal.subject, "requests", minute, 1)
                if count > limits.requests_per_minute:
                    return f"the limit of {limits.requests_per_minute} requests per minute", minute + _MINUTE - now
            return None

        exceeded = await self._db.run(check)
        if exceeded:
            what, retry_after = exceeded
            raise QuotaExceeded(f"You have used {what}; try again later.", retry_after_s=max(1, math.ceil(retry_after)))

    async def charge_tokens(self, principal: Principal, tokens: int) -> None:
        """Add tokens to the principal's count for today."""
        if not self._settings.enabled or tokens <= 0:
            return
        day = _window(time.time(), _DAY)
        await self._db.run(lambda session: _increment(session, principal.subject, "tokens", day, tokens))

    async def prune(self, *, older_than_s: int = 2 * _DAY) -> None:
        """Delete windows that can no longer matter."""
        cutoff = int(time.time()) - older_than_s
        await self._db.run(lambda s: s.execute(delete(QuotaCounterRow).where(QuotaCounterRow.window_start < cutoff)))


def _window(now: float, length: int) -> int:
    return int(now // length * length)


def _most_generous(limits: list[int | None]) -> int | None:
    return None if any(limit is None for limit in limits) else max(limit for limit in limits if limit is not None)


def _increment(session: Session, subject: str, kind: str, window: int, amount: int) -> int:
    bind = session.get_bind()
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(QuotaCounterRow)
        .values(subject=subject, kind=kind, window_start=window, used=amount)
        .on_conflict_do_update(
            index_elements=["subject", "kind", "window_start"], set_={"used": QuotaCounterRow.used + amount}
        )
        .returning(QuotaCounterRow.used)
    )
    used: int = session.execute(statement).scalar_one()
    return used
