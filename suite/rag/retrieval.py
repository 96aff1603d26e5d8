"""Retrieval with access control: RBAC decides the collections, the ACL filter is part of every query.

Order of checks for each named collection: the policy (``retrieval`` route, collection
pattern), then existence. Both refusals raise the same ``PermissionDenied`` naming only the
collection asked for, so a caller cannot tell a forbidden collection from a missing one.
Nothing is fetched and filtered afterwards: the Qdrant query carries the caller's filter.
With a reranker (``rag.rerank``) the store returns ``rag.rerank.candidates`` readable chunks and
the cross-encoder picks the best ``top_k`` of them (suite.rag.rerank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite.auth import Decision, Policy, Principal
from suite.config import RagSettings
from suite.errors import InvalidRequest, PermissionDenied
from suite.rag.acl import read_filter
from suite.rag.rerank import Reranker
from suite.rag.retrieved import RetrievedChunk
from suite.rag.store import KnowledgeStore
from suite.rag.vectors import TextEncoder

UNKNOWN_COLLECTION = "unknown-collection"


@dataclass(frozen=True)
class Retrieval:
    """What one retrieval found for one caller."""

    query: str
    collections: list[str]
    chunks: list[RetrievedChunk]
    # False when no chunk reached rag.min_score: the model is told so instead of guessing.
    relevant: bool
    decisions: list[Decision] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def chunk_ids(self) -> list[str]:
        return [c.chunk_id for c in self.chunks]


class Retriever:
    """Finds the chunks a principal may read that answer a question."""

    def __init__(
        self,
        settings: RagSettings,
        store: KnowledgeStore,
        encoder: TextEncoder,
        policy: Policy,
        *,
        reranker: Reranker | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._encoder = encoder
        self._policy = policy
        self._reranker = reranker

    async def authorize(self, principal: Principal, collections: list[str]) -> list[Decision]:
        """The policy decision per collection; PermissionDenied (same for forbidden and unknown) otherwise."""
        if not collections:
            raise InvalidRequest("Name at least one collection.", param="collections")
        decisions = []
        for name in dict.fromkeys(collections):
            decision = self._policy.require(principal, "retrieval", collection=name)
            if not await self._store.exists(name):
                denied = Decision(False, UNKNOWN_COLLECTION, "retrieval", collection=name)
                raise PermissionDenied(f"You are not allowed to use the collection '{name}'.", decision=denied)
            decisions.append(decision)
        return decisions

    async def retrieve(
        self,
        principal: Principal,
        query: str,
        collections: list[str],
        *,
        top_k: int | None = None,
        document_ids: list[str] | None = None,
    ) -> Retrieval:
        """The best readable chunks across the collections (not yet screened); scores descending.

        With a reranker, the scores are the cross-encoder's; otherwise the engine's (RRF when hybrid).
        """
        wanted = top_k or self._settings.top_k
        if wanted > self._settings.max_top_k:
            raise InvalidRequest(f"top_k may be at most {self._settings.max_top_k}.", param="top_k")
        limit = max(wanted, self._settings.rerank.candidates) if self._reranker is not None else wanted
        if not query.strip():
            raise InvalidRequest("The query is empty.", param="query")
        decisions = await self.authorize(principal, collections)
        names = [d.collection for d in decisions if d.collection]
        dense = (await self._encoder.dense([query], kind="query"))[0]
        sparse = (await self._encoder.sparse([query]))[0]
        where = read_filter(principal, document_ids=document_ids)
        found: list[RetrievedChunk] = []
        relevant = False
        for name in names:
            chunks, any_relevant = await self._store.search(
                name,
                dense=dense,
                sparse=sparse,
                where=where,
                limit=limit,
                hybrid=self._settings.hybrid_for(name),
                min_score=self._settings.min_score,
            )
            relevant = relevant or any_relevant
            found += chunks
        found.sort(key=lambda c: c.score, reverse=True)
        if not relevant:
            return Retrieval(query, names, [], relevant, decisions)
        if self._reranker is not None:
            chosen = await self._reranker.rerank(query, found[:limit], limit=wanted)
        else:
            chosen = found[:wanted]
        return Retrieval(query, names, chosen, relevant, decisions)
