"""The OpenAI-compatible routes: HTTP only; the work happens in suite.serving and suite.embeddings."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from suite.auth import Principal
from suite.errors import ClientDisconnected
from suite.gateway.deps import PrincipalDep, RequestIdDep, Services, ServicesDep, require_principal
from suite.gateway.openai.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from suite.serving import Pool, UpstreamReply, UpstreamStream

_T = TypeVar("_T")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 429, 503, 504)
}

router = APIRouter(prefix="/v1", dependencies=[Depends(require_principal)], responses=_ERRORS)

_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@router.get("/models", response_model=ModelList)
async def list_models(services: ServicesDep, principal: PrincipalDep) -> ModelList:
    """The chat and embedding models this caller may use, with their aliases."""
    created = int(services.started_at)
    policy = services.policy
    cards: list[ModelCard] = []
    for model in services.settings.serving.models:
        if policy.decide(principal, "chat", model=model.name).allowed:
            cards.append(ModelCard(id=model.name, created=created, kind="chat"))
            cards += [ModelCard(id=a, created=created, kind="chat", alias_of=model.name) for a in model.aliases]
    for emb in services.settings.embeddings.models:
        if policy.decide(principal, "embeddings", model=emb.name).allowed:
            cards.append(ModelCard(id=emb.name, created=created, kind="embedding"))
            cards += [ModelCard(id=a, created=created, kind="embedding", alias_of=emb.name) for a in emb.aliases]
    return ModelList(data=cards)


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> Response:
    """Chat completion, streamed as server-sent events when ``stream`` is true."""
    pool = services.catalog.pool_for(body.model)
    services.policy.require(principal, "chat", model=pool.model)
    await services.quotas.admit(principal)
    call = _UpstreamCall(services, principal, pool, "/v1/chat/completions", request_id)
    return await call.forward(request, body)


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> Response:
    """Text completion (legacy API), streamed when ``stream`` is true."""
    pool = services.catalog.pool_for(body.model)
    services.policy.require(principal, "completions", model=pool.model)
    await services.quotas.admit(principal)
    call = _UpstreamCall(services, principal, pool, "/v1/completions", request_id)
    return await call.forward(request, body)


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, services: ServicesDep, principal: PrincipalDep) -> EmbeddingResponse:
    """Embeddings of one or more texts (normalised vectors)."""
    model = services.embeddings.resolve(body.model)
    services.policy.require(principal, "embeddings", model=model.name)
    await services.quotas.admit(principal)
    inputs = [body.input] if isinstance(body.input, str) else body.input
    result = await services.embeddings.embed(body.model, inputs)
    await services.quotas.charge_tokens(principal, result.prompt_tokens)
    data = [
        Embedding(index=i, embedding=_b64(vector) if body.encoding_format == "base64" else vector)
        for i, vector in enumerate(result.vectors)
    ]
    usage = EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens)
    return EmbeddingResponse(data=data, model=result.model, usage=usage)


class _UpstreamCall:
    """One chat or completion request on its way to a pool, with its token accounting."""

    def __init__(self, services: Services, principal: Principal, pool: Pool, path: str, request_id: str) -> None:
        self._services = services
        self._principal = principal
        self._pool = pool
        self._path = path
        self._request_id = request_id

    async def forward(self, request: Request, body: ChatCompletionRequest | CompletionRequest) -> Response:
        # Only what the client set goes on, so vLLM applies its own defaults; the alias becomes the pool's model.
        payload = body.model_dump(exclude_unset=True)
        payload["model"] = self._pool.model
        relay = self._services.relay
        if not body.stream:
            content = json.dumps(payload).encode()
            reply = await _unless_disconnected(
                request, relay.post(self._pool, self._path, content, request_id=self._request_id)
            )
            if reply.status_code == 200:
                await self._charge(_usage_of(reply.content))
            return _reply(reply)
        # Usage is always asked of the backend (quotas and audit need it) and dropped again
        # for clients that did not ask for it themselves.
        client_wants_usage = bool(body.stream_options and body.stream_options.include_usage)
        payload["stream_options"] = {**payload.get("stream_options", {}), "include_usage": True}
        content = json.dumps(payload).encode()
        opened = await _unless_disconnected(
            request, relay.stream(self._pool, self._path, content, request_id=self._request_id)
        )
        if isinstance(opened, UpstreamReply):
            return _reply(opened)
        events = opened.events(on_usage=self._charge, strip_usage=not client_wants_usage)
        return StreamingResponse(events, media_type="text/event-stream", headers=_STREAM_HEADERS)

    async def _charge(self, usage: dict[str, Any] | None) -> None:
        tokens = (usage or {}).get("total_tokens")
        if isinstance(tokens, int):
            await self._services.quotas.charge_tokens(self._principal, tokens)


def _usage_of(content: bytes) -> dict[str, Any] | None:
    usage = json.loads(content).get("usage")
    return usage if isinstance(usage, dict) else None


def _reply(reply: UpstreamReply) -> Response:
    return Response(reply.content, status_code=reply.status_code, media_type="application/json")


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


def _b64(vector: list[float]) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
