"""A stalled Llama Guard holds only its own worker: the audit trail still commits (finding 7 of issue 14)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from suite.audit import AuditEvent, AuditTrail
from suite.audit.tables import AuditRecordRow
from suite.config import AuditSettings, GuardrailSettings, LlamaGuardSettings
from suite.db import Database, migrate
from suite.guardrails import Guardrails, SafetyVerdict

STALLED_CALLS = 24  # more than asyncio's default pool has threads (min(32, cores + 4))


class StalledGuard:
    """Stands in for Llama Guard: every classify call blocks until released (a hung model)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def classify(self, conversation: Any) -> SafetyVerdict:
        self.calls += 1
        self.release.wait()
        return SafetyVerdict(safe=True, categories=[])


async def test_audit_commits_while_llama_guard_is_stalled(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'suite.db'}")
    migrate(database)
    trail = AuditTrail(AuditSettings(batch_wait_ms=5), database, data_dir=tmp_path)
    settings = GuardrailSettings(llamaguard=LlamaGuardSettings(timeout_s=0.2, fail_open=False))
    guardrails = Guardrails(settings, data_dir=tmp_path)
    stalled = StalledGuard()
    guardrails.llamaguard = stalled  # type: ignore[assignment]
    await trail.start()
    try:
        findings = await asyncio.gather(
            *(guardrails.safety(f"question {i}", role="user") for i in range(STALLED_CALLS))
        )
        # Every call timed out and failed closed; the first one's thread is still stuck in the model.
        assert all(f.outcome == "block" and f.details.get("unavailable") for f in findings)
        assert stalled.calls == 1
        assert not stalled.release.is_set()
        record_id = await asyncio.wait_for(
            trail.record(AuditEvent(event_class="admin", action="stall.test", subject="tester")), timeout=5
        )
        with database.session() as session:
            stored = session.scalar(
                select(func.count()).select_from(AuditRecordRow).where(AuditRecordRow.record_id == record_id)
            )
        assert stored == 1
    finally:
        stalled.release.set()
        await trail.stop()
        guardrails.close()
        database.dispose()
