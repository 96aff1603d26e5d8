"""``POST /v1/guardrails/check``: what each guardrail finds in a text (policy route "guardrails")."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from suite.audit import AuditEvent, principal_fields
from suite.errors import GuardrailUnavailable
from suite.gateway.deps import AuditDep, GuardrailsDep, PolicyDep, PrincipalDep, RequestIdDep, require_principal
from suite.gateway.guardrails.protocol import GuardCheckRequest, GuardCheckResponse, GuardVerdict
from suite.guardrails import inspect_text

router = APIRouter(prefix="/v1/guardrails", dependencies=[Depends(require_principal)], tags=["guardrails"])


@router.post("/check", response_model=GuardCheckResponse)
async def check(
    body: GuardCheckRequest,
    request: Request,
    policy: PolicyDep,
    guardrails: GuardrailsDep,
    audit: AuditDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> GuardCheckResponse:
    """Run every guardrail check on a text and report each finding (the text itself is not recorded)."""
    started = time.perf_counter()
    decision = policy.require(principal, "guardrails")
    if guardrails is None or guardrails.pii is None:
        raise GuardrailUnavailable("The guardrails are not loaded.")
    report = await inspect_text(guardrails, body.text)
    outcomes = {v.outcome for v in report.verdicts}
    outcome = "block" if "block" in outcomes else "mask" if "mask" in outcomes else "allow"
    await audit.record(
        AuditEvent(
            event_class="guardrail",
            action="guardrails.check",
            request_id=request_id,
            client_address=request.client.host if request.client else None,
            route=request.url.path,
            decision="allow",
            decision_rule=decision.rule,
            http_status=200,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            verdicts=[v.as_record() for v in report.verdicts],
            **principal_fields(principal),
        )
    )
    verdicts = [
        GuardVerdict(name=v.name, outcome=v.outcome, reason=v.reason, score=v.score, details=v.details)
        for v in report.verdicts
    ]
    return GuardCheckResponse(outcome=outcome, verdicts=verdicts, masked_text=report.masked)
