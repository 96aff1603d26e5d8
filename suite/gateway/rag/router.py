"""``POST /v1/retrieve``: the chunks a caller may read that answer a query, with scores and sources."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from suite.errors import PermissionDenied
from suite.gateway.deps import (
    AuditDep,
    ContentDep,
    PrincipalDep,
    QuotasDep,
    RagDep,
    RequestIdDep,
    SettingsDep,
    require_principal,
)
from suite.gateway.openai.protocol import ErrorResponse
from suite.gateway.rag.protocol import RetrievedItem, RetrieveRequest, RetrieveResponse, Source
from suite.gateway.records import request_event

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 403, 429, 503)}


# The store is opened and closed by the app's lifespan (suite.gateway.app), not here.
router = APIRouter(prefix="/v1", dependencies=[Depends(require_principal)], responses=_ERRORS, tags=["rag"])


@router.post("/retrieve", response_model=RetrieveResponse)
async def retrieve(
    body: RetrieveRequest,
    request: Request,
    rag: RagDep,
    quotas: QuotasDep,
    audit: AuditDep,
    content: ContentDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> RetrieveResponse:
    """Search knowledge collections; only chunks the caller may read are ever fetched."""
    started = time.perf_counter()
    if rag is None:  # RAG not configured: every collection is unknown, so refuse alike
        raise PermissionDenied(f"You are not allowed to use the collection '{body.collections[0]}'.")
    await quotas.admit(principal)
    found = await rag.retrieve(
        principal, body.query, body.collections, top_k=body.top_k, document_ids=body.document_ids
    )
    policy_kept = content.policy_for(route="retrieval", model=None)
    query = await content.keep(policy_kept, body.query)
    await audit.record(
        request_event(
            request,
            principal,
            request_id,
            event_class="model_request",
            action="retrieve",
            model=settings.rag.embedding_model,
            backend="in-process",
            collections=found.collections,
            chunk_ids=found.chunk_ids,
            decision="allow",
            decision_rule=",".join(sorted({d.rule for d in found.decisions})),
            verdicts=found.verdicts,
            http_status=200,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            content_policy=policy_kept,
            prompt=query,
        )
    )
    items = [
        RetrievedItem(
            chunk_id=c.chunk_id, text=c.text, score=c.score, source=Source.model_validate(c, from_attributes=True)
        )
        for c in found.chunks
    ]
    return RetrieveResponse(data=items, relevant=found.relevant)
