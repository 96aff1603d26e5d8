"""``/v1/admin/collections``: knowledge collections and ingest through the running gateway (role ``admin``).

With Qdrant local mode only the gateway can hold the store while it runs, so this is how an
admin ingests then (``suite ingest --gateway`` calls it). The gateway reads the documents
itself, so a request may only name paths under ``rag.ingest_roots``. Ingest answers with a
stream of JSON lines (one ``ingest.progress`` per document, then ``ingest.result``); the run
goes on to its end and its audit record even if the caller goes away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from suite.audit import AuditTrail
from suite.auth import Policy, Principal
from suite.config import Settings
from suite.errors import InvalidRequest, SuiteError, error_envelope
from suite.gateway.deps import (
    AuditDep,
    BackgroundDep,
    PolicyDep,
    PrincipalDep,
    RagDep,
    RequestIdDep,
    SettingsDep,
    require_principal,
)
from suite.gateway.openai.protocol import ErrorResponse
from suite.gateway.rag.protocol import (
    CollectionCreate,
    CollectionInfo,
    CollectionList,
    IngestProgress,
    IngestRequest,
    IngestResult,
)
from suite.gateway.records import request_event
from suite.rag import AclEntry, Connector, IngestReport, RagService, check_name, open_source
from suite.rag import IngestProgress as IngestStep

log = structlog.get_logger(__name__)
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 403, 503)}

router = APIRouter(
    prefix="/v1/admin/collections", dependencies=[Depends(require_principal)], responses=_ERRORS, tags=["admin"]
)


@dataclass(frozen=True)
class RagAdmin:
    """What the admin routes use: the policy (route "admin"), RAG, the settings, the audit trail, background work."""

    policy: Policy
    rag: RagService | None
    settings: Settings
    audit: AuditTrail
    background: set[asyncio.Task[Any]]


async def _admin(
    policy: PolicyDep, rag: RagDep, settings: SettingsDep, audit: AuditDep, background: BackgroundDep
) -> RagAdmin:
    return RagAdmin(policy, rag, settings, audit, background)


RagAdminDep = Annotated[RagAdmin, Depends(_admin)]


def _rag(admin: RagAdmin, principal: Principal) -> RagService:
    admin.policy.require(principal, "admin")
    if admin.rag is None:
        raise InvalidRequest("RAG is not configured (rag.embedding_model is not among embeddings.models).")
    return admin.rag


@router.get("", response_model=CollectionList)
async def list_collections(admin: RagAdminDep, principal: PrincipalDep) -> CollectionList:
    """Every knowledge collection with its documents, chunks and vector size."""
    rag = _rag(admin, principal)
    infos = []
    for name in await rag.collections():
        stats = await rag.stats(name)
        hybrid = admin.settings.rag.hybrid_for(name)
        infos.append(CollectionInfo(**vars(stats), hybrid=hybrid))
    return CollectionList(data=infos)


@router.post("", response_model=CollectionInfo, status_code=201)
async def create_collection(
    body: CollectionCreate, request: Request, admin: RagAdminDep, principal: PrincipalDep, request_id: RequestIdDep
) -> CollectionInfo:
    """A new, empty collection."""
    rag = _rag(admin, principal)
    await rag.create_collection(check_name(body.name))
    await _record(admin, request, principal, request_id, "collections.create", {"collection": body.name})
    stats = await rag.stats(body.name)
    return CollectionInfo(**vars(stats), hybrid=admin.settings.rag.hybrid_for(body.name))


@router.delete("/{name}", status_code=204)
async def delete_collection(
    name: str, request: Request, admin: RagAdminDep, principal: PrincipalDep, request_id: RequestIdDep
) -> Response:
    """Delete a collection and every chunk in it."""
    await _rag(admin, principal).delete_collection(name)
    await _record(admin, request, principal, request_id, "collections.delete", {"collection": name})
    return Response(status_code=204)


@router.post("/{name}/ingest", response_model=None, responses={200: {"content": {"application/x-ndjson": {}}}})
async def ingest(
    name: str,
    body: IngestRequest,
    request: Request,
    admin: RagAdminDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> StreamingResponse:
    """Ingest documents from a path on the gateway host incrementally, streaming progress as JSON lines."""
    rag = _rag(admin, principal)
    connector = _source(admin.settings, body)
    documents = await asyncio.to_thread(lambda: list(connector.documents()))
    if body.create and not await rag.store.exists(name):
        await rag.create_collection(check_name(name))
        await _record(admin, request, principal, request_id, "collections.create", {"collection": name})
    elif not await rag.store.exists(name):
        raise InvalidRequest(f"No collection '{name}': create it first (or ask with create: true).", param="name")

    progress: asyncio.Queue[str] = asyncio.Queue()

    def advance(step: IngestStep) -> None:
        line = IngestProgress(done=step.documents, total=step.total, chunks=step.chunks, seconds=round(step.seconds, 2))
        progress.put_nowait(line.model_dump_json())

    async def run() -> IngestReport:
        details: dict[str, Any] = {"collection": name, "source": connector.scope}
        try:
            report = await rag.ingest(name, documents, scope=connector.scope, advance=advance)
        except Exception as exc:
            failure = {**details, "error": exc.message if isinstance(exc, SuiteError) else type(exc).__name__}
            await _record(admin, request, principal, request_id, "ingest", failure, status="error")
            raise
        await _record(admin, request, principal, request_id, "ingest", {**details, **report.summary()})
        return report

    # Not tied to the response: a caller that goes away does not stop the run halfway.
    task = asyncio.create_task(run())
    admin.background.add(task)
    task.add_done_callback(admin.background.discard)
    return StreamingResponse(_lines(name, task, progress), media_type="application/x-ndjson")


async def _lines(collection: str, task: asyncio.Task[IngestReport], progress: asyncio.Queue[str]) -> AsyncIterator[str]:
    while not (task.done() and progress.empty()):
        waiting = asyncio.ensure_future(progress.get())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done():
            yield waiting.result() + "\n"
        else:
            waiting.cancel()
    try:
        report = task.result()
    except SuiteError as exc:
        yield json.dumps(error_envelope(exc.message, exc.error_type, param=exc.param, code=exc.code)) + "\n"
        return
    except Exception:
        log.exception("ingest failed", collection=collection)
        yield json.dumps(error_envelope("The ingest failed; the gateway log has the details.", "server_error")) + "\n"
        return
    result = IngestResult(
        collection=report.collection,
        summary=report.summary(),
        failed=report.failed,
        without_acl=report.without_acl,
    )
    yield result.model_dump_json() + "\n"


def _source(settings: Settings, body: IngestRequest) -> Connector:
    path = _under_roots(settings, body.path, "path")
    mapping = _under_roots(settings, body.acl_map, "acl_map") if body.acl_map else None
    if not path.exists():
        raise InvalidRequest(f"{body.path}: no such file or folder on the gateway host.", param="path")
    try:
        default = AclEntry(groups=body.groups, users=body.users, classification=body.classification)
        return open_source(path, default=default, mapping=mapping)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid ACL: {exc}", param="groups") from None


def _under_roots(settings: Settings, raw: str, param: str) -> Path:
    roots = [settings.resolve(root).resolve() for root in settings.rag.ingest_roots]
    if not roots:
        raise InvalidRequest("Ingest over HTTP is off: rag.ingest_roots names no folder.", param=param)
    path = Path(raw)
    if not path.is_absolute():
        raise InvalidRequest(f"{raw}: give an absolute path on the gateway host.", param=param)
    resolved = path.resolve()  # links resolved first: a link cannot lead out of the roots
    if not any(resolved.is_relative_to(root) for root in roots):
        raise InvalidRequest(f"{raw} is not under an ingest root (rag.ingest_roots).", param=param)
    return resolved


async def _record(
    admin: RagAdmin,
    request: Request,
    principal: Principal,
    request_id: str,
    action: str,
    details: dict[str, Any],
    *,
    status: Literal["ok", "error"] = "ok",
) -> None:
    decision = admin.policy.require(principal, "admin")
    event = request_event(
        request,
        principal,
        request_id,
        event_class="admin",
        action=action,
        collections=[details["collection"]],
        decision="allow",
        decision_rule=decision.rule,
        status=status,
        http_status=200,
        details=details,
    )
    await admin.audit.record(event)
