"""What one audit record says.

An ``AuditEvent`` is built by the code that saw the interaction (the gateway's routes,
the login flow, admin commands) and handed to the ``AuditTrail``, which stores it
durably, chained and signed. Content (prompts, answers) is already reduced to what the
content policy allows before it gets here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from suite.config import AuditSettings, ContentPolicy

if TYPE_CHECKING:
    # For annotations only: the audit trail does not load the identity layer (the login records to it).
    from suite.auth import Principal

EventClass = Literal["model_request", "auth", "admin", "guardrail", "audit_access"]
Outcome = Literal["ok", "denied", "error", "started"]


class AuditEvent(BaseModel):
    """One record of the audit trail, as the application produces it (before chaining)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    event_class: EventClass
    # What happened, e.g. "chat.completions", "chat.completions.open", "login", "keys.create", "audit.query".
    action: str
    request_id: str | None = None
    # Who: subject, roles and how they authenticated; client address.
    subject: str | None = None
    roles: list[str] = Field(default_factory=list)
    auth_method: str | None = None
    client_address: str | None = None
    # Where: the API route, the model and the backend that served it, RAG collections and chunks.
    route: str | None = None
    model: str | None = None
    backend: str | None = None
    collections: list[str] = Field(default_factory=list)
    chunk_ids: list[str] = Field(default_factory=list)
    # Why: the policy decision and the rule that made it; guardrail verdicts.
    decision: Literal["allow", "deny"] | None = None
    decision_rule: str | None = None
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    # How it went.
    status: Outcome = "ok"
    http_status: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    # The content as the policy allows it: the text, masked text, a SHA-256, or nothing.
    content_policy: ContentPolicy = "none"
    prompt: str | None = None
    answer: str | None = None
    # Anything else worth keeping (admin action parameters, error codes); never secrets.
    details: dict[str, Any] = Field(default_factory=dict)


def principal_fields(principal: Principal | None) -> dict[str, Any]:
    """The record's who-fields for a principal (none when the caller is unknown)."""
    if principal is None:
        return {}
    return {"subject": principal.subject, "roles": sorted(principal.roles), "auth_method": principal.auth_method}


def content_policy_for(settings: AuditSettings, *, route: str, model: str | None) -> ContentPolicy:
    """The content policy of a route and model: a model override, else a route override, else the default."""
    if model is not None and model in settings.content_overrides:
        return settings.content_overrides[model]
    return settings.content_overrides.get(route, settings.content)


def apply_content_policy(policy: ContentPolicy, text: str | None, *, mask: Any = None) -> str | None:
    """Reduce a prompt or answer to what the policy keeps.

    ``mask`` is the guardrails' PII masker (a callable str -> str) once it exists; until
    then "masked" stores the SHA-256 rather than risk storing PII in clear.
    """
    if text is None or policy == "none":
        return None
    if policy == "full":
        return text
    if policy == "masked" and mask is not None:
        masked: str = mask(text)
        return masked
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
