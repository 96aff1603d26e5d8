"""Chat with retrieval: the gateway side of a grounded chat request.

A request asks for retrieval by naming collections (the extra body field ``collections``) or
by the model alias ``rag:<collection>``, which goes to ``rag.chat_model``. After the model's
policy and quota checks and the input guardrails (a refused prompt costs no retrieval), the
last user turn as the caller wrote it is the query; the retrieved (and screened) chunks become
numbered sources in a system message, PII-masked like the caller's turns, and the answer carries the citations: a
``citations`` field in a JSON answer, and one ``chat.completion.citations`` event just before
``[DONE]`` in a stream.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from suite.auth import Principal
from suite.config import Settings
from suite.errors import InvalidRequest, PermissionDenied
from suite.gateway.openai.protocol import ChatCompletionRequest, ChatMessage
from suite.gateway.rag.protocol import CitationModel
from suite.rag import Citation, RagService, Retrieval, citations, grounding_prompt
from suite.serving import Answer

RAG_ALIAS_PREFIX = "rag:"


@dataclass(frozen=True)
class RagTarget:
    """The chat model to call and the collections to ground the answer in."""

    model: str
    collections: list[str]


def rag_target(settings: Settings, body: ChatCompletionRequest) -> RagTarget | None:
    """What a chat request asks of RAG, or None for a plain chat request."""
    named = list(body.collections or [])
    if body.model.startswith(RAG_ALIAS_PREFIX):
        return RagTarget(settings.rag.chat_model, [body.model[len(RAG_ALIAS_PREFIX) :], *named])
    return RagTarget(body.model, named) if named else None


@dataclass(frozen=True)
class Grounding:
    """A chat request's retrieval, still to be done: the gateway runs it after the input guardrails."""

    # None: RAG is not configured.
    rag: RagService | None
    principal: Principal
    target: RagTarget
    query: str

    @classmethod
    def of(
        cls, rag: RagService | None, principal: Principal, body: ChatCompletionRequest, target: RagTarget
    ) -> Grounding:
        """The retrieval a request asks for; its query is the last user turn as the caller wrote it."""
        return cls(rag, principal, target, _last_user_text(body))

    async def apply(
        self, body: ChatCompletionRequest, *, mask: Callable[[str], Awaitable[str]]
    ) -> tuple[GroundedChat, ChatCompletionRequest]:
        """Retrieve; the request to forward carries the sources (passed through ``mask``) as a system message."""
        rag = self.rag
        if rag is None:  # RAG not configured: every collection is unknown, so refuse alike
            raise PermissionDenied(f"You are not allowed to use the collection '{self.target.collections[0]}'.")
        retrieval = await rag.retrieve(self.principal, self.query, self.target.collections)
        grounded = GroundedChat(retrieval, citations(retrieval))
        return grounded, _with_system(body, await mask(grounding_prompt(retrieval)))


@dataclass(frozen=True)
class GroundedChat:
    """A chat request's retrieval and the citations its answer carries."""

    retrieval: Retrieval
    citations: list[Citation]

    def audit_fields(self) -> dict[str, Any]:
        """The audit record's RAG fields."""
        return {"collections": self.retrieval.collections, "chunk_ids": self.retrieval.chunk_ids}

    def annotate(self, answer: Answer) -> None:
        """A non-streamed answer with its citations added (in place; not in OpenAI's schema)."""
        answer.citations = self._wire_citations()

    def citations_event(self) -> bytes:
        """The SSE event sent just before [DONE]."""
        event = {"object": "chat.completion.citations", "citations": self._wire_citations()}
        return b"data: " + json.dumps(event).encode() + b"\n\n"

    def _wire_citations(self) -> list[dict[str, Any]]:
        return [CitationModel.model_validate(c, from_attributes=True).model_dump() for c in self.citations]


def _last_user_text(body: ChatCompletionRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            if isinstance(message.content, list):
                return " ".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
            if message.content:
                return message.content
    raise InvalidRequest("A request with collections needs a user message to search for.", param="messages")


def _with_system(body: ChatCompletionRequest, grounding: str) -> ChatCompletionRequest:
    # One system message (small chat templates take only one): the client's own first, then the grounding.
    messages = list(body.messages)
    if messages and messages[0].role == "system" and isinstance(messages[0].content, str):
        system = ChatMessage(role="system", content=f"{messages[0].content}\n\n{grounding}")
        messages = [system, *messages[1:]]
    else:
        messages = [ChatMessage(role="system", content=grounding), *messages]
    fields = body.model_dump(exclude_unset=True, exclude={"collections", "messages"})
    return ChatCompletionRequest.model_validate(
        {**fields, "messages": [m.model_dump(exclude_unset=True) for m in messages]}
    )
