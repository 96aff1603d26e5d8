"""The audit records of one model request, built from its context alone.

A non-streamed answer has one record, written before the answer is released. A stream has an
opening record, written while the backend works on the first token and durable before the first
byte, and a closing record before ``[DONE]``; a request that fails or is abandoned has an error
record. If the audit trail cannot record, the answer is not delivered (fail closed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, Literal

from suite.audit import AuditEvent, AuditTrail, principal_fields
from suite.gateway.openai.context import ModelRequest
from suite.gateway.records import ContentRecorder


class CallRecorder:
    """Writes one request's records; the opening record of a stream is awaited before any other."""

    def __init__(
        self, call: ModelRequest, audit: AuditTrail, content: ContentRecorder, background: set[asyncio.Task[Any]]
    ) -> None:
        self._call = call
        self._audit = audit
        self._content = content
        self._background = background
        self._opening: asyncio.Task[None] | None = None
        # Streamed events, kept raw only when no stream guard keeps the released text, parsed once at the end.
        self._streamed: list[bytes] = []

    def open(self) -> None:
        """Start writing a stream's opening record (it runs while the backend works on the first token)."""
        self._opening = self.in_background(self.record(action_suffix=".open", status="started"))

    async def opened(self) -> None:
        """The opening record is durable (or its error raised) before any other record or byte."""
        if self._opening is not None:
            opening, self._opening = self._opening, None
            await opening

    def keep_stream(self, piece: bytes) -> None:
        """Keep a piece of the stream for the closing record's answer (when nothing else keeps it)."""
        self._streamed.append(piece)

    def abandon(self) -> None:
        """The client went away mid-stream: record that, without holding anything up."""
        self.in_background(self.record(status="error", details={"error": "client_disconnected"}))

    def in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work referenced until done, so that a request cancelled meanwhile still leaves its record."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        # A failed write is logged by the audit trail itself; nothing else may be waiting for it.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def record(
        self,
        *,
        status: Literal["ok", "error", "started"],
        action_suffix: str = "",
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """One record of the request as its context stands now."""
        call = self._call
        if status != "started":
            await self.opened()
        if (released := call.guard.streamed_answer()) is not None:
            call.answer = released  # kept by the stream guard as it went: no second parse
        elif self._streamed:
            call.answer = _streamed_texts(b"".join(self._streamed))
            self._streamed = []
        answer = "".join(call.answer) if status != "started" else None
        prompt = await self._content.keep(call.content, call.prompt, known=call.guard.masked_texts)
        answer = await self._content.keep(call.content, answer or None, known=call.guard.masked_texts)
        event = AuditEvent(
            event_class="model_request",
            action=call.action + action_suffix,
            request_id=call.request_id,
            client_address=call.client_address,
            route=call.route,
            model=call.pool.model,
            backend=call.backend,
            decision="allow",
            decision_rule=call.decision.rule,
            status=status,
            http_status=http_status,
            prompt_tokens=call.usage.get("prompt_tokens"),
            completion_tokens=call.usage.get("completion_tokens"),
            latency_ms=call.latency_ms(),
            content_policy=call.content,
            prompt=prompt,
            answer=answer,
            verdicts=call.verdicts(),
            **call.grounding_fields(),
            details=details or {},
            **principal_fields(call.principal),
        )
        await self._audit.record(event)


def _streamed_texts(events: bytes) -> list[str]:
    texts: list[str] = []
    for event in events.split(b"\n\n"):
        if event.startswith(b"data: {"):
            texts += _delta_texts(json.loads(event[6:]))
    return texts


def _delta_texts(body: Any) -> list[str]:
    texts: list[str] = []
    if not isinstance(body, dict):
        return texts
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta, dict) else None
        text = text if isinstance(text, str) else choice.get("text")
        if isinstance(text, str):
            texts.append(text)
    return texts
