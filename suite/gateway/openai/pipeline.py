"""The request path of a chat or completion request, top to bottom, one stage per module.

1. admission (``admission``): the model's pool, the policy's decision, the caller's quota; the
   request's typed context (``context.ModelRequest``) is created here and every later stage enriches it;
2. input guardrails (``guarding``): every turn's PII masked, user turns judged;
3. grounding (``suite.gateway.rag.chat``): retrieval after the input guardrails, sources as a system turn;
4. the upstream call (``suite.serving.Relay``), cancelled when the client goes away first;
5. output guardrails (``guarding``): the answer masked, judged, schema-checked (streams: the stream guard);
6. usage charged and the audit record written (``recording``) before the answer is released;
7. delivery: the caller's own values revealed, citations added, the answer serialised once.

A stream's pieces reach stages 5 and 6 through the relay's tap (``tap.RelayTap``), the one adapter
between the relay and the gateway. Every request leaves an audit record before its answer is
released; if the audit trail cannot record, the answer is not delivered (fail closed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request, Response
from fastapi.responses import StreamingResponse

from suite.audit import AuditTrail
from suite.auth import Principal, QuotaEnforcer
from suite.errors import ClientDisconnected, SuiteError
from suite.gateway.deps import (
    AuditDep,
    BackgroundDep,
    CatalogDep,
    ContentDep,
    GuardrailsDep,
    PolicyDep,
    QuotasDep,
    RagDep,
    RelayDep,
)
from suite.gateway.openai.admission import Admission
from suite.gateway.openai.context import Action, ModelRequest
from suite.gateway.openai.protocol import ChatCompletionRequest, CompletionRequest
from suite.gateway.openai.recording import CallRecorder
from suite.gateway.openai.tap import RelayTap, charge_usage
from suite.gateway.rag.chat import Grounding, RagTarget
from suite.gateway.records import ContentRecorder
from suite.rag import RagService
from suite.serving import Relay, UpstreamReply, UpstreamStream

_T = TypeVar("_T")
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_PATHS: dict[Action, str] = {"chat.completions": "/v1/chat/completions", "completions": "/v1/completions"}


@dataclass(frozen=True)
class ModelCalls:
    """The parts the request path uses, given by constructor (see ``model_calls`` for the dependency)."""

    admission: Admission
    relay: Relay
    quotas: QuotaEnforcer
    audit: AuditTrail
    content: ContentRecorder
    rag: RagService | None
    # Fire-and-forget work (records of abandoned streams), kept referenced until done.
    background: set[asyncio.Task[Any]]

    async def handle(
        self,
        request: Request,
        principal: Principal,
        body: ChatCompletionRequest | CompletionRequest,
        *,
        action: Action,
        request_id: str,
        target: RagTarget | None = None,
    ) -> Response:
        """Admit the request (stage 1), then take it through the other stages."""
        model = target.model if target is not None else body.model
        call = await self.admission.admit(request, principal, model, action=action, request_id=request_id)
        grounding = None
        if target is not None and isinstance(body, ChatCompletionRequest):
            grounding = Grounding.of(self.rag, principal, body, target)
        return await _Call(self, request, call).run(body, grounding)


class _Call:
    """Stages 2 to 7 for one admitted request."""

    def __init__(self, parts: ModelCalls, request: Request, call: ModelRequest) -> None:
        self._parts = parts
        self._request = request
        self._call = call
        self._recorder = CallRecorder(call, parts.audit, parts.content, parts.background)

    async def run(self, body: ChatCompletionRequest | CompletionRequest, grounding: Grounding | None) -> Response:
        call, relay = self._call, self._parts.relay
        body = await self._upstream(call.guard.check_input(body))  # 2. masked turns; refused if blocked
        call.headers = call.guard.masked_header()  # the caller's own values, before any grounding is added
        if grounding is not None and isinstance(body, ChatCompletionRequest):
            call.grounded, body = await grounding.apply(body, mask=call.guard.mask_context)  # 3.
        call.prompt = _prompt_text(body) if call.content != "none" else None
        # Only what the client set goes on, so vLLM applies its own defaults; the alias becomes the pool's model.
        payload = body.model_dump(exclude_unset=True)
        payload["model"] = call.pool.model
        path = _PATHS[call.action]
        if not body.stream:
            reply = await self._upstream(relay.post(call.pool, path, _json(payload), request_id=call.request_id))  # 4.

            def resend(retry: bytes) -> Coroutine[Any, Any, UpstreamReply]:
                return relay.post(call.pool, path, retry, request_id=call.request_id)

            reply = await self._upstream(call.guard.check_reply(reply, payload=payload, resend=resend))  # 5.
            return await self._deliver(reply)  # 6. and 7.
        # Usage is always asked of the backend (quotas and audit need it) and dropped again
        # for clients that did not ask for it themselves.
        call.strip_usage = not (body.stream_options and body.stream_options.include_usage)
        payload["stream_options"] = {**payload.get("stream_options", {}), "include_usage": True}
        self._recorder.open()  # 6. the opening record, written while the backend works on the first token
        opened = await self._upstream(relay.stream(call.pool, path, _json(payload), request_id=call.request_id))
        if isinstance(opened, UpstreamReply):
            return await self._deliver(opened)
        try:
            await self._recorder.opened()
        except BaseException:
            await opened.aclose()  # no first byte without the opening record
            raise
        call.backend = opened.backend.url
        tap = RelayTap(call, self._recorder, self._parts.quotas)  # 5.-7. per piece, through the relay's tap
        headers = {**_STREAM_HEADERS, **call.headers}
        return StreamingResponse(opened.events(tap), media_type="text/event-stream", headers=headers)

    async def _deliver(self, reply: UpstreamReply) -> Response:
        # The answer was parsed once, by the relay; the stages rewrote it in place; it is serialised once, here.
        call = self._call
        call.backend = reply.backend
        answer = reply.answer
        if answer is not None:
            await charge_usage(call, self._parts.quotas, answer.usage.model_dump() if answer.usage else {})
            call.answer = answer.texts()
        status: Literal["ok", "error"] = "ok" if answer is not None else "error"
        await self._recorder.record(status=status, http_status=reply.status_code)
        if answer is not None:
            call.guard.reveal(answer)
            if call.grounded is not None:
                call.grounded.annotate(answer)
        return Response(
            reply.body(), status_code=reply.status_code, media_type="application/json", headers=call.headers
        )

    async def _upstream(self, work: Coroutine[Any, Any, _T]) -> _T:
        try:
            return await _unless_disconnected(self._request, work)
        except SuiteError as exc:
            await self._recorder.record(status="error", http_status=exc.status_code, details={"error": exc.code})
            raise


async def model_calls(
    content: ContentDep,
    catalog: CatalogDep,
    policy: PolicyDep,
    quotas: QuotasDep,
    guardrails: GuardrailsDep,
    relay: RelayDep,
    audit: AuditDep,
    rag: RagDep,
    background: BackgroundDep,
) -> ModelCalls:
    """The request path's parts, from the narrow dependencies."""
    admission = Admission(catalog, policy, quotas, content, guardrails)
    return ModelCalls(admission, relay, quotas, audit, content, rag, background)


ModelCallsDep = Annotated[ModelCalls, Depends(model_calls)]


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
