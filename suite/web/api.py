"""``/web/api``: the chat pages' own routes (conversations, feedback, page settings), session only.

Every route acts for the signed-in user on that user's conversations alone; another user's
conversation id answers 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from suite.audit import AuditStats
from suite.web.deps import WebDep, WebPrincipalDep, audit_event
from suite.web.protocol import (
    AppendedMessages,
    AppendMessages,
    ConversationDetail,
    ConversationList,
    ConversationSummary,
    Deleted,
    Feedback,
    NewConversation,
    Rename,
    UsageToday,
)

router = APIRouter(prefix="/web/api", tags=["web"], include_in_schema=False)


@router.get("/conversations")
async def list_conversations(
    web: WebDep, principal: WebPrincipalDep, search: Annotated[str | None, Query(max_length=200)] = None
) -> ConversationList:
    """The user's conversations, newest first, optionally those whose title or text contains ``search``."""
    return ConversationList(data=await web.store.find(principal.subject, search=search))


@router.post("/conversations", status_code=201)
async def create_conversation(web: WebDep, principal: WebPrincipalDep, body: NewConversation) -> ConversationSummary:
    """Start a conversation."""
    return await web.store.create(principal.subject, title=body.title, model=body.model)


@router.get("/conversations/{conversation_id}")
async def get_conversation(web: WebDep, principal: WebPrincipalDep, conversation_id: str) -> ConversationDetail:
    """One of the user's conversations with its turns."""
    return await web.store.get(principal.subject, conversation_id)


@router.patch("/conversations/{conversation_id}")
async def rename_conversation(
    web: WebDep, principal: WebPrincipalDep, conversation_id: str, body: Rename
) -> ConversationSummary:
    """Rename a conversation."""
    return await web.store.rename(principal.subject, conversation_id, body.title)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(web: WebDep, principal: WebPrincipalDep, conversation_id: str) -> Response:
    """Delete a conversation."""
    await web.store.delete(principal.subject, conversation_id)
    return Response(status_code=204)


@router.delete("/conversations")
async def delete_all_conversations(request: Request, web: WebDep, principal: WebPrincipalDep) -> Deleted:
    """Delete every conversation of the user (audited: a GDPR erasure the user asked for)."""
    deleted = await web.store.delete_all(principal.subject)
    await web.record(
        audit_event(
            request, principal, event_class="admin", action="web.conversations.delete_all", details={"deleted": deleted}
        )
    )
    return Deleted(deleted=deleted)


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def append_messages(
    web: WebDep, principal: WebPrincipalDep, conversation_id: str, body: AppendMessages
) -> AppendedMessages:
    """Store turns (the user's, then the answer as it was shown); ``replace_from`` drops later turns first."""
    added = await web.store.append(principal.subject, conversation_id, body.messages, replace_from=body.replace_from)
    return AppendedMessages(data=added)


@router.post("/feedback", status_code=204)
async def feedback(request: Request, web: WebDep, principal: WebPrincipalDep, body: Feedback) -> Response:
    """Thumbs up or down on one of the user's answers: stored, and written to the audit trail."""
    about = await web.store.add_feedback(principal.subject, body.message_id, rating=body.rating, comment=body.comment)
    await web.record(
        audit_event(
            request,
            principal,
            event_class="model_request",
            action="chat.feedback",
            model=about["model"],
            details={"rating": body.rating, "comment": body.comment, "answer_request_id": about["request_id"]},
        )
    )
    return Response(status_code=204)


@router.get("/settings")
async def page_settings(web: WebDep, principal: WebPrincipalDep) -> dict[str, dict[str, str]]:
    """The texts admins set for the pages: the data-classification banner and the first-use notice."""
    return {"banner": web.settings.web.banner, "first_use_notice": web.settings.web.first_use_notice}


@router.get("/usage")
async def usage_today(web: WebDep, principal: WebPrincipalDep) -> UsageToday:
    """The user's own requests and tokens today (UTC, as counted on the audit trail) and the quota left.

    Tokens left come from the quota counters that admission enforces, so the page shows the number
    that will refuse the next request, not an estimate.
    """
    database = web.gateway.database
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    (today,) = await database.workers.run(AuditStats(database).usage, midnight, subject=principal.subject)
    standing = await web.gateway.quotas.standing(principal)
    return UsageToday(
        requests=today.requests,
        tokens=today.tokens,
        quotas=standing.enabled,
        tokens_per_day=standing.tokens_per_day,
        tokens_left=standing.tokens_left,
        requests_per_minute=standing.requests_per_minute,
    )
