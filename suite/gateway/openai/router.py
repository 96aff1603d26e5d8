"""The OpenAI-compatible routes: HTTP only; the work happens in suite.serving and suite.embeddings."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response

from suite.gateway.deps import (
    AuditDep,
    CatalogDep,
    ContentDep,
    EmbeddingsDep,
    PolicyDep,
    PrincipalDep,
    QuotasDep,
    RagDep,
    RequestIdDep,
    SettingsDep,
    StartedAtDep,
    require_principal,
)
from suite.gateway.openai.pipeline import ModelCallsDep
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
from suite.gateway.rag.chat import RAG_ALIAS_PREFIX, rag_target
from suite.gateway.records import request_event

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 429, 503, 504)
}

router = APIRouter(prefix="/v1", dependencies=[Depends(require_principal)], responses=_ERRORS)


@router.get("/models", response_model=ModelList)
async def list_models(
    settings: SettingsDep,
    policy: PolicyDep,
    catalog: CatalogDep,
    rag: RagDep,
    started_at: StartedAtDep,
    principal: PrincipalDep,
) -> ModelList:
    """The chat and embedding models this caller may use, with their aliases.

    Chat with retrieval is listed as ``rag:<collection>`` for each collection the caller may
    search (when the caller may also use ``rag.chat_model``), so plain OpenAI clients find it.
    """
    created = int(started_at)
    cards: list[ModelCard] = []
    for model in settings.serving.models:
        if policy.decide(principal, "chat", model=model.name).allowed:
            cards.append(ModelCard(id=model.name, created=created, kind="chat"))
            cards += [ModelCard(id=a, created=created, kind="chat", alias_of=model.name) for a in model.aliases]
    chat_model = catalog.model_of(settings.rag.chat_model)
    if rag is not None and chat_model and policy.decide(principal, "chat", model=chat_model).allowed:
        for name in await rag.collections():
            if policy.decide(principal, "retrieval", collection=name).allowed:
                cards.append(ModelCard(id=RAG_ALIAS_PREFIX + name, created=created, kind="chat", alias_of=chat_model))
    for emb in settings.embeddings.models:
        if policy.decide(principal, "embeddings", model=emb.name).allowed:
            cards.append(ModelCard(id=emb.name, created=created, kind="embedding"))
            cards += [ModelCard(id=a, created=created, kind="embedding", alias_of=emb.name) for a in emb.aliases]
    return ModelList(data=cards)


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    calls: ModelCallsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> Response:
    """Chat completion, streamed as server-sent events when ``stream`` is true.

    With ``collections`` (or the model ``rag:<collection>``) the answer is grounded in those
    knowledge collections and carries ``citations``.
    """
    target = rag_target(settings, body)
    return await calls.handle(request, principal, body, action="chat.completions", request_id=request_id, target=target)


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest,
    request: Request,
    calls: ModelCallsDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> Response:
    """Text completion (legacy API), streamed when ``stream`` is true."""
    return await calls.handle(request, principal, body, action="completions", request_id=request_id)


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(
    body: EmbeddingRequest,
    request: Request,
    encoders: EmbeddingsDep,
    policy: PolicyDep,
    quotas: QuotasDep,
    audit: AuditDep,
    content: ContentDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> EmbeddingResponse:
    """Embeddings of one or more texts (normalised vectors)."""
    started = time.perf_counter()
    model = encoders.resolve(body.model)
    decision = policy.require(principal, "embeddings", model=model.name)
    await quotas.admit(principal)
    inputs = [body.input] if isinstance(body.input, str) else body.input
    result = await encoders.embed(body.model, inputs)
    await quotas.charge_tokens(principal, result.prompt_tokens)
    policy_kept = content.policy_for(route="embeddings", model=model.name)
    prompt = await content.keep(policy_kept, "\n".join(inputs))
    await audit.record(
        request_event(
            request,
            principal,
            request_id,
            event_class="model_request",
            action="embeddings",
            model=model.name,
            backend="in-process",
            decision="allow",
            decision_rule=decision.rule,
            http_status=200,
            prompt_tokens=result.prompt_tokens,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            content_policy=policy_kept,
            prompt=prompt,
        )
    )
    data = [
        Embedding(index=i, embedding=_b64(vector) if body.encoding_format == "base64" else vector)
        for i, vector in enumerate(result.vectors)
    ]
    usage = EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens)
    return EmbeddingResponse(data=data, model=result.model, usage=usage)


def _b64(vector: list[float]) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
