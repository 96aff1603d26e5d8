"""The typed context of one chat or completion request, created at admission and enriched by each stage.

Every stage of the request path (``suite.gateway.openai.pipeline``) reads what the stages before
it found here and adds its own: admission the caller, the policy decision and the pool; the
guardrails their verdicts (``guard``); grounding the retrieval; the upstream call the backend and
the usage; the answer its texts. The audit record is built from this context alone
(``suite.gateway.openai.recording``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from suite.auth import Decision, Principal
from suite.config import ContentPolicy
from suite.gateway.openai.guarding import RequestGuard
from suite.gateway.rag.chat import GroundedChat
from suite.serving import Pool

Action = Literal["chat.completions", "completions"]


@dataclass
class ModelRequest:
    """One request's context (identity, policy decision, guard verdicts, grounding, backend, usage, answer)."""

    # Who and where (the HTTP request), set once.
    request_id: str
    route: str
    client_address: str | None
    action: Action
    principal: Principal
    # Admission: the policy's decision (quota already admitted) and the pool that serves the model.
    decision: Decision
    pool: Pool
    # What the audit record keeps of the prompt and the answer (audit.content and its overrides).
    content: ContentPolicy
    # The guardrails of this request: the placeholder vault, the verdicts, the stream guard.
    guard: RequestGuard
    started: float = field(default_factory=time.perf_counter)
    # Headers for the caller on the answer (what was masked in their own request: x-suite-masked).
    headers: dict[str, str] = field(default_factory=dict)
    # Grounding (chat with retrieval): its retrieval and the citations the answer carries.
    grounded: GroundedChat | None = None
    # The prompt as forwarded (masked), when the content policy keeps something of it.
    prompt: str | None = None
    # The upstream call: the backend that answered and the token usage it reported.
    backend: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    # Streams: whether the client asked for the usage event itself (else it is taken out again).
    strip_usage: bool = True
    # The answer's texts (one per choice), as the audit record keeps them before its content policy.
    answer: list[str] = field(default_factory=list)

    def latency_ms(self) -> float:
        """Since admission, in milliseconds."""
        return round((time.perf_counter() - self.started) * 1000, 1)

    def verdicts(self) -> list[dict[str, Any]]:
        """The guardrails' verdicts on the request and answer, and the screening stage's on retrieved chunks."""
        return self.guard.verdicts + (self.grounded.retrieval.verdicts if self.grounded is not None else [])

    def grounding_fields(self) -> dict[str, Any]:
        """The audit record's RAG fields (none for plain chat)."""
        return self.grounded.audit_fields() if self.grounded is not None else {}
