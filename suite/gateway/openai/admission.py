"""Stage 1 of a model request: the model's pool, the policy's decision and the caller's quota.

A request that passes leaves with its context (``ModelRequest``); one that does not raises the
domain error (unknown model, PermissionDenied, QuotaExceeded), which the error handler records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from suite.auth import Policy, Principal, QuotaEnforcer
from suite.gateway.openai.context import Action, ModelRequest
from suite.gateway.openai.guarding import RequestGuard
from suite.gateway.records import ContentRecorder
from suite.guardrails import Guardrails, Scope
from suite.serving import ModelCatalog


@dataclass(frozen=True)
class Admission:
    """Admits chat and completion requests: what it needs, given by constructor."""

    catalog: ModelCatalog
    policy: Policy
    quotas: QuotaEnforcer
    content: ContentRecorder
    guardrails: Guardrails | None

    async def admit(
        self, request: Request, principal: Principal, model: str, *, action: Action, request_id: str
    ) -> ModelRequest:
        """The request's context, once the pool is known and the policy and quota let it go ahead."""
        pool = self.catalog.pool_for(model)
        route: Literal["chat", "completions"] = "chat" if action == "chat.completions" else "completions"
        decision = self.policy.require(principal, route, model=pool.model)
        await self.quotas.admit(principal)
        scope = Scope(route=decision.route, model=pool.model, roles=frozenset(principal.roles))
        return ModelRequest(
            request_id=request_id,
            route=request.url.path,
            client_address=request.client.host if request.client else None,
            action=action,
            principal=principal,
            decision=decision,
            pool=pool,
            content=self.content.policy_for(route=decision.route, model=pool.model),
            guard=RequestGuard(self.guardrails, scope=scope),
        )
