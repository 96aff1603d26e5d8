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

from suite.errors import ClientDisconnected
from suite.gateway.deps import RequestIdDep, Services, ServicesDep, require_principal
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
async def list_models(services: ServicesDep) -> ModelList:
    """The chat and embedding models this caller can use, with their aliases."""
    created = int(services.started_at)
    cards: list[ModelCard] = []
    for model in services.settings.serving.models:
        cards.append(ModelCard(id=model.name, created=created, kind="chat"))
        cards += [ModelCard(id=a, created=created, kind="chat", alias_of=model.name) for a in model.aliases]
    for emb in services.settings.embeddings.models:
        cards.append(ModelCard(id=emb.name, created=created, kind="embedding"))
        cards += [ModelCard(id=a, created=created, kind="embedding", alias_of=emb.name) for a in emb.aliases]
    return ModelList(data=cards)


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, services: ServicesDep, request_id: RequestIdDep
) -> Response:
    """Chat completion, streamed as server-sent events when ``stream`` is true."""
    pool = services.catalog.pool_for(body.model)
    return await _forward(
        request, services, pool, "/v1/chat/completions", _upstream_body(body, pool), request_id, stream=body.stream
    )


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest, request: Request, services: ServicesDep, request_id: RequestIdDep
) -> Response:
    """Text completion (legacy API), streamed when ``stream`` is true."""
    pool = services.catalog.pool_for(body.model)
    return await _forward(
        request, services, pool, "/v1/completions", _upstream_body(body, pool), request_id, stream=body.stream
    )


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, services: ServicesDep) -> EmbeddingResponse:
    """Embeddings of one or more texts (normalised vectors)."""
    inputs = [body.input] if isinstance(body.input, str) else body.input
    result = await services.embeddings.embed(body.model, inputs)
    data = [
        Embedding(index=i, embedding=_b64(vector) if body.encoding_format == "base64" else vector)
        for i, vector in enumerate(result.vectors)
    ]
    usage = EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens)
    return EmbeddingResponse(data=data, model=result.model, usage=usage)


def _upstream_body(body: ChatCompletionRequest | CompletionRequest, pool: Pool) -> bytes:
    # Only what the client set goes on, so vLLM applies its own defaults; the alias becomes the pool's model.
    payload = body.model_dump(exclude_unset=True)
    payload["model"] = pool.model
    return json.dumps(payload).encode()


async def _forward(
    request: Request, services: Services, pool: Pool, path: str, content: bytes, request_id: str, *, stream: bool
) -> Response:
    relay = services.relay
    if not stream:
        reply = await _unless_disconnected(request, relay.post(pool, path, content, request_id=request_id))
        return _reply(reply)
    opened = await _unless_disconnected(request, relay.stream(pool, path, content, request_id=request_id))
    if isinstance(opened, UpstreamReply):
        return _reply(opened)
    return StreamingResponse(opened.events(), media_type="text/event-stream", headers=_STREAM_HEADERS)


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
