"""Audit records of gateway requests: the fields every record takes from the HTTP request, and its content.

One ``ContentRecorder``, built by the app factory with the guardrails' PII masker, decides for every
route (chat, completions, embeddings, retrieval, audit search) what a record keeps of the content:

- ``full``: the text as it came;
- ``masked``: the text with PII replaced by placeholders (presidio, on its worker pool) - never a hash;
- ``hash``: the text's SHA-256 (proves what was sent without keeping it);
- ``none``: nothing.

``masked`` needs the PII masker; where there is none (``guardrails.pii`` off, or tools without
guardrails) the record keeps the hash and says so: its ``content_policy`` is then ``hash``, so a
record never claims masking it did not do.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from suite.audit import AuditEvent, apply_content_policy, content_policy_for, principal_fields
from suite.auth import Principal
from suite.config import AuditSettings, ContentPolicy
from suite.guardrails import Guardrails


def request_event(request: Request, principal: Principal, request_id: str, **fields: Any) -> AuditEvent:
    """An audit event for this request and caller: request id, client address, route and principal filled in."""
    return AuditEvent(
        request_id=request_id,
        client_address=request.client.host if request.client else None,
        route=request.url.path,
        **fields,
        **principal_fields(principal),
    )


class ContentRecorder:
    """What the audit trail keeps of a request's content, the same for every route."""

    def __init__(self, settings: AuditSettings, guardrails: Guardrails | None) -> None:
        self._settings = settings
        # The masker is loaded in the lifespan (guardrails.load), so it is looked up when needed.
        self._guardrails = guardrails

    def policy_for(self, *, route: str, model: str | None) -> ContentPolicy:
        """The policy a record of this route and model follows (``masked`` without a masker: ``hash``)."""
        policy = content_policy_for(self._settings, route=route, model=model)
        if policy == "masked" and self._masker() is None:
            return "hash"
        return policy

    async def keep(self, policy: ContentPolicy, text: str | None, *, known: dict[str, str] | None = None) -> str | None:
        """The text as a record under ``policy`` keeps it; ``known``: texts already masked (by the guardrails).

        Masking runs on presidio's worker pool: it takes milliseconds, which would stall every other
        request on the event loop.
        """
        masker = self._masker()
        if policy != "masked" or text is None or masker is None:
            return apply_content_policy("hash" if policy == "masked" else policy, text)
        if known is not None and text in known:
            return known[text]
        assert self._guardrails is not None
        masked: str = await self._guardrails.presidio_pool.run(masker.mask_text, text)
        if known is not None:
            known[text] = masked
        return masked

    def _masker(self) -> Any:
        return self._guardrails.pii if self._guardrails is not None else None
