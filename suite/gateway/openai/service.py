"""One model request on its way through the gateway: relay, token accounting, audit records.

Every chat or completion request leaves an audit record before its answer is released:
a non-streamed answer after its record is durable, a stream with an opening record that is
durable before its first byte and a closing record before ``[DONE]``. The opening record
is written while the backend works on the first token, so the commit costs the caller
no time to first token. If the audit trail cannot record, the answer is not delivered
(fail closed) unless settings say otherwise.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from suite.audit import AuditEvent, content_policy_for, principal_fields
from suite.auth import Decision, Principal
from suite.errors import ClientDisconnected, SuiteError
from suite.gateway.deps import Services
from suite.gateway.openai.guarding import RequestGuard
from suite.gateway.openai.protocol import ChatCompletionRequest, CompletionRequest
from suite.gateway.rag.chat import GroundedChat, Grounding
from suite.guardrails import Scope
from suite.serving import Pool, UpstreamReply, UpstreamStream

_T = TypeVar("_T")
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class ModelCall:
    """A chat or completion request: forwards it, charges its tokens, records it. Also the stream's tap."""

    def __init__(
        self,
        services: Services,
        request: Request,
        principal: Principal,
        pool: Pool,
        decision: Decision,
        *,
        action: Literal["chat.completions", "completions"],
        request_id: str,
    ) -> None:
        self._services = services
        self._request = request
        self._principal = principal
        self._pool = pool
        self._decision = decision
        self._action = action
        self._request_id = request_id
        self._started = time.perf_counter()
        self._content = content_policy_for(services.settings.audit, route=decision.route, model=pool.model)
        self._prompt: str | None = None
        self._answer: list[str] = []
        # Streamed events are kept raw and parsed once at the end, off the per-chunk path.
        self._streamed: list[bytes] = []
        self._usage: dict[str, Any] = {}
        self._backend: str | None = None
        # A stream's opening record while it is being written (see forward).
        self._opening: asyncio.Task[None] | None = None
        # Headers for the caller on the answer (what was masked in their request).
        self._headers: dict[str, str] = {}
        self.strip_usage = True
        # Chat with retrieval: its sources, cited in the answer (set by forward; suite.gateway.rag).
        self.rag: GroundedChat | None = None
        scope = Scope(route=decision.route, model=pool.model, roles=frozenset(principal.roles))
        self._guard = RequestGuard(services.guardrails, scope=scope)

    @classmethod
    async def admit(
        cls,
        services: Services,
        request: Request,
        principal: Principal,
        model: str,
        *,
        action: Literal["chat.completions", "completions"],
        request_id: str,
    ) -> ModelCall:
        """Resolve the model's pool, check the policy and the caller's quota; then the call may go ahead."""
        pool = services.catalog.pool_for(model)
        route: Literal["chat", "completions"] = "chat" if action == "chat.completions" else "completions"
        decision = services.policy.require(principal, route, model=pool.model)
        await services.quotas.admit(principal)
        return cls(services, request, principal, pool, decision, action=action, request_id=request_id)

    async def forward(
        self, body: ChatCompletionRequest | CompletionRequest, *, grounding: Grounding | None = None
    ) -> Response:
        """Send the request to the pool and answer the client once the record is durable.

        With ``grounding`` (chat with retrieval) the retrieval runs after the input guardrails.
        """
        body = await self._upstream(self._guard.check_input(body))  # masked turns; refused if blocked
        self._headers = self._guard.masked_header()  # the caller's own values, before any grounding is added
        if grounding is not None and isinstance(body, ChatCompletionRequest):
            self.rag, body = await grounding.apply(body, mask=self._guard.mask_context)
        self._prompt = _prompt_text(body) if self._content != "none" else None
        # Only what the client set goes on, so vLLM applies its own defaults; the alias becomes the pool's model.
        payload = body.model_dump(exclude_unset=True)
        payload["model"] = self._pool.model
        path = "/v1/chat/completions" if self._action == "chat.completions" else "/v1/completions"
        relay = self._services.relay
        if not body.stream:
            reply = await self._upstream(relay.post(self._pool, path, _json(payload), request_id=self._request_id))
            resend = lambda retry: relay.post(self._pool, path, retry, request_id=self._request_id)  # noqa: E731
            reply = await self._upstream(self._guard.check_reply(reply, payload=payload, resend=resend))
            return await self._deliver(reply)
        # Usage is always asked of the backend (quotas and audit need it) and dropped again
        # for clients that did not ask for it themselves.
        self.strip_usage = not (body.stream_options and body.stream_options.include_usage)
        payload["stream_options"] = {**payload.get("stream_options", {}), "include_usage": True}
        self._opening = self._in_background(self._record(action_suffix=".open", status="started"))
        opened = await self._upstream(relay.stream(self._pool, path, _json(payload), request_id=self._request_id))
        if isinstance(opened, UpstreamReply):
            return await self._deliver(opened)
        try:
            await self._opened()
        except BaseException:
            await opened.aclose()  # no first byte without the opening record
            raise
        self._backend = opened.backend.url
        headers = {**_STREAM_HEADERS, **self._headers}
        return StreamingResponse(opened.events(self), media_type="text/event-stream", headers=headers)

    async def _opened(self) -> None:
        # The opening record is durable (or its error raised) before any other record or byte.
        if self._opening is not None:
            opening, self._opening = self._opening, None
            await opening

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # Referenced until done, so that a request cancelled meanwhile still leaves its record.
        task = asyncio.create_task(work)
        self._services.background.add(task)
        task.add_done_callback(self._services.background.discard)
        # A failed write is logged by the audit trail itself; nothing else may be waiting for it.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def _upstream(self, work: Coroutine[Any, Any, _T]) -> _T:
        try:
            return await _unless_disconnected(self._request, work)
        except SuiteError as exc:
            await self._record(status="error", http_status=exc.status_code, details={"error": exc.code})
            raise

    async def _deliver(self, reply: UpstreamReply) -> Response:
        # The answer was parsed once, by the relay; the stages rewrote it in place; it is serialised once, here.
        self._backend = reply.backend
        answer = reply.answer
        if answer is not None:
            await self.usage(answer.usage.model_dump() if answer.usage is not None else {})
            self._answer = answer.texts()
        status: Literal["ok", "error"] = "ok" if answer is not None else "error"
        await self._record(status=status, http_status=reply.status_code)
        if answer is not None:
            self._guard.reveal(answer)
            if self.rag is not None:
                self.rag.annotate(answer)
        return Response(
            reply.body(), status_code=reply.status_code, media_type="application/json", headers=self._headers
        )

    # ---- StreamTap -------------------------------------------------------------------

    async def observe(self, piece: bytes) -> bytes:
        """The piece as the client gets it: masked, revealed, held back or stopped by the stream guard.

        When no stream guard keeps the released text, the events are kept raw (only when the content
        policy keeps something of the answer) and parsed once, for the closing record.
        """
        shown = await self._guard.observe(piece)
        if self._content != "none" and self._guard.streamed_answer() is None:
            self._streamed.append(piece)
        return shown

    async def usage(self, usage: dict[str, Any]) -> None:
        """Take the backend's token usage and charge it to the caller's quota."""
        self._usage = usage
        tokens = usage.get("total_tokens")
        if isinstance(tokens, int):
            await self._services.quotas.charge_tokens(self._principal, tokens)

    async def finish(self, *, outcome: Literal["ok", "error"]) -> bytes:
        """The closing record, written before [DONE] is released."""
        held = await self._guard.finish_stream()  # the guardrails' held-back tail
        await self._record(status=outcome, http_status=200)
        return held + (self.rag.citations_event() if self.rag is not None else b"")

    def abandon(self) -> None:
        """The client went away mid-stream: record that, without holding anything up."""
        self._in_background(self._record(status="error", details={"error": "client_disconnected"}))

    # ---- the record ------------------------------------------------------------------

    async def _record(
        self,
        *,
        status: Literal["ok", "error", "started"],
        action_suffix: str = "",
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if status != "started":
            await self._opened()
        if (released := self._guard.streamed_answer()) is not None:
            self._answer = released  # kept by the stream guard as it went: no second parse
        elif self._streamed:
            self._answer = _streamed_texts(b"".join(self._streamed))
            self._streamed = []
        answer = "".join(self._answer) if status != "started" else None
        prompt = await self._guard.audit_text(self._content, self._prompt)
        answer = await self._guard.audit_text(self._content, answer or None)
        event = AuditEvent(
            event_class="model_request",
            action=self._action + action_suffix,
            request_id=self._request_id,
            client_address=self._request.client.host if self._request.client else None,
            route=self._request.url.path,
            model=self._pool.model,
            backend=self._backend,
            decision="allow",
            decision_rule=self._decision.rule,
            status=status,
            http_status=http_status,
            prompt_tokens=self._usage.get("prompt_tokens"),
            completion_tokens=self._usage.get("completion_tokens"),
            latency_ms=round((time.perf_counter() - self._started) * 1000, 1),
            content_policy=self._content,
            prompt=prompt,
            answer=answer,
            # The guardrails' verdicts on the request and answer, and the screening stage's on retrieved chunks.
            verdicts=self._guard.verdicts + (self.rag.retrieval.verdicts if self.rag is not None else []),
            **(self.rag.audit_fields() if self.rag is not None else {}),
            details=details or {},
            **principal_fields(self._principal),
        )
        await self._services.audit.record(event)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _prompt_text(body: ChatCompletionRequest | CompletionRequest) -> str:
    if isinstance(body, ChatCompletionRequest):
        lines = []
        for message in body.messages:
            if isinstance(message.content, list):
                text = " ".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")
            else:
                text = message.content or ""
            lines.append(f"{message.role}: {text}")
        return "\n".join(lines)
    prompt = body.prompt
    if isinstance(prompt, str):
        return prompt
    return "\n".join(p if isinstance(p, str) else json.dumps(p) for p in prompt)


def _streamed_texts(events: bytes) -> list[str]:
    texts: list[str] = []
    for event in events.split(b"\n\n"):
        if event.startswith(b"data: {"):
            texts += _answer_texts(json.loads(event[6:]), delta=True)
    return texts


def _answer_texts(body: Any, *, delta: bool = False) -> list[str]:
    texts: list[str] = []
    if not isinstance(body, dict):
        return texts
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        message = choice.get("delta" if delta else "message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        text = text if isinstance(text, str) else choice.get("text")
        if isinstance(text, str):
            texts.append(text)
    return texts


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, _T]) -> _T:
    """Run work, cancelling it (and so the upstream request) if the client goes away first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        result = await task
    except asyncio.CancelledError:
        raise ClientDisconnected("The client closed the connection.") from None
    if isinstance(result, UpstreamStream):  # finished just as the client left
        await result.aclose()
    raise ClientDisconnected("The client closed the connection.")


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
