"""Knowledge collections: the store as the rest of RAG sees it, over one of three engines.

``rag.engine`` picks the engine: ``edge`` (the embedded default, Qdrant Edge in process,
suite.rag.edge), ``server`` (a Qdrant server or cluster through qdrant-client,
suite.rag.server) or ``local`` (qdrant-client's local mode, kept to read earlier releases'
collections). All three take the same schema (suite.rag.schema) and the same ACL filter,
which every query carries. The engines are synchronous; every call runs on the store's own
workers so the event loop never waits on one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from qdrant_client import models

from suite.config import Settings
from suite.errors import InvalidRequest
from suite.rag.acl import ACL_GROUPS, ACL_USERS
from suite.rag.documents import Acl, Classification
from suite.rag.retrieved import RetrievedChunk
from suite.rag.schema import DENSE, SPARSE, CollectionSchema
from suite.rag.vectors import TermVector

_T = TypeVar("_T")
COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# (point id, score, payload) per point found.
Found = list[tuple[str, float, dict[str, Any]]]


@dataclass(frozen=True)
class StoredDocument:
    """What ingest compares against: a document's hash, ACL and classification as last stored."""

    document_id: str
    content_hash: str
    acl: Acl
    classification: str


@dataclass(frozen=True)
class CollectionStats:
    name: str
    chunks: int
    documents: int
    vector_size: int


@dataclass(frozen=True)
class Point:
    """One chunk ready for the store."""

    chunk_id: str
    dense: list[float]
    sparse: TermVector
    payload: dict[str, Any]


def point_of(point_id: Any, vector: Any, payload: dict[str, Any] | None) -> Point:
    """A Point from an engine's record (Edge or qdrant-client: the same named vectors), without vectors if absent."""
    named = vector if isinstance(vector, dict) else {}
    dense, sparse = named.get(DENSE), named.get(SPARSE)
    terms = TermVector(list(sparse.indices), list(sparse.values)) if sparse is not None else TermVector([], [])
    return Point(str(point_id), list(dense) if dense is not None else [], terms, dict(payload or {}))


def found_of(points: Sequence[Any]) -> Found:
    """(id, score, payload) of an engine's scored points (Edge or qdrant-client)."""
    return [(str(p.id), p.score, p.payload or {}) for p in points]


def check_name(name: str) -> str:
    """A valid knowledge collection name, or InvalidRequest."""
    if not COLLECTION_NAME.match(name):
        raise InvalidRequest(
            f"Invalid collection name {name!r}: lower-case letters, digits, '-' and '_' (at most 63).",
            param="collection",
        )
    return name


class Backend(Protocol):
    """What an engine does for the store (suite.rag.edge.EdgeBackend, suite.rag.server.ServerBackend)."""

    workers: int

    def close(self) -> None: ...
    def names(self) -> list[str]: ...
    def exists(self, name: str) -> bool: ...
    def create(self, name: str, schema: CollectionSchema) -> None: ...
    def delete(self, name: str) -> None: ...
    def vector_size(self, name: str) -> int: ...
    def indexed_fields(self, name: str) -> dict[str, str]: ...
    def count(self, name: str, where: models.Filter | None) -> int: ...
    def scroll(
        self, name: str, where: models.Filter | None, *, keys: list[str] | bool, offset: Any, limit: int, vectors: bool
    ) -> tuple[list[Point], Any]: ...
    def delete_where(self, name: str, where: models.Filter) -> None: ...
    def upsert(self, name: str, points: Sequence[Point]) -> None: ...
    def set_payload_where(self, name: str, payload: dict[str, Any], where: models.Filter) -> None: ...
    def search(
        self,
        name: str,
        *,
        dense: list[float],
        sparse: models.SparseVector,
        where: models.Filter,
        limit: int,
        hybrid: bool,
        min_score: float,
    ) -> tuple[Found, bool]: ...
    def optimize(self, name: str) -> bool: ...


def open_backend(settings: Settings) -> Backend:
    """The configured engine, opened (VectorStoreUnavailable when it cannot be)."""
    rag = settings.rag
    if rag.engine == "server":
        from suite.rag.server import ServerBackend

        assert rag.qdrant_url is not None  # the settings refuse engine server without a URL
        key = rag.qdrant_api_key.get_secret_value() if rag.qdrant_api_key else None
        return ServerBackend.connect(rag.qdrant_url, api_key=key)
    if rag.engine == "local":
        from suite.rag.server import ServerBackend

        return ServerBackend.open_local(settings.resolve(rag.qdrant_path))
    from suite.rag.edge import EdgeBackend

    return EdgeBackend.open(settings.resolve(rag.edge_path))


class KnowledgeStore:
    """The knowledge collections, async, over one engine."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._executor = ThreadPoolExecutor(max_workers=backend.workers, thread_name_prefix="rag-store")

    @classmethod
    def open(cls, settings: Settings) -> KnowledgeStore:
        """Open the configured engine (VectorStoreUnavailable if it is held elsewhere or unreachable)."""
        return cls(open_backend(settings))

    async def _run(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(work, *args, **kwargs))

    def close(self) -> None:
        """Close the engine (releases the store lock) and the workers."""
        self._executor.shutdown(wait=True)
        self.backend.close()

    # ---- collections ------------------------------------------------------------------

    async def names(self) -> list[str]:
        return await self._run(self.backend.names)

    async def exists(self, name: str) -> bool:
        return bool(COLLECTION_NAME.match(name)) and await self._run(self.backend.exists, name)

    async def create(self, name: str, *, vector_size: int) -> None:
        """A new collection (InvalidRequest if it exists) with the knowledge schema (suite.rag.schema)."""
        if await self.exists(check_name(name)):
            raise InvalidRequest(f"The collection '{name}' exists already.", param="collection")
        await self._run(self.backend.create, name, CollectionSchema(vector_size=vector_size))

    async def delete(self, name: str) -> None:
        await self._require(name)
        await self._run(self.backend.delete, name)

    async def _require(self, name: str) -> None:
        if not await self.exists(name):
            raise InvalidRequest(f"No collection '{name}'.", param="collection")

    async def stats(self, name: str) -> CollectionStats:
        await self._require(name)
        chunks = await self._run(self.backend.count, name, None)
        documents = await self._run(self.backend.count, name, first_chunks())
        size = await self._run(self.backend.vector_size, name)
        return CollectionStats(name=name, chunks=chunks, documents=documents, vector_size=size)

    async def optimize(self, name: str) -> bool:
        """Build the engine's indexes for new points (on a thread of its own: queries go on meanwhile)."""
        await self._require(name)
        return await asyncio.to_thread(self.backend.optimize, name)

    # ---- documents --------------------------------------------------------------------

    async def documents(self, name: str, *, scope: str) -> dict[str, StoredDocument]:
        """Source URI -> stored state of every document under scope (read from each document's first chunk)."""
        return await self._run(self._documents, name, scope)

    def _documents(self, name: str, scope: str) -> dict[str, StoredDocument]:
        found: dict[str, StoredDocument] = {}
        offset: Any = None
        keys = ["source_uri", "document_id", "content_hash", ACL_GROUPS, ACL_USERS, "classification"]
        while True:
            points, offset = self.backend.scroll(
                name, first_chunks(), keys=keys, offset=offset, limit=1024, vectors=False
            )
            for point in points:
                p = point.payload
                if str(p.get("source_uri", "")).startswith(scope):
                    acl = Acl(frozenset(p.get(ACL_GROUPS) or []), frozenset(p.get(ACL_USERS) or []))
                    state = StoredDocument(p["document_id"], p["content_hash"], acl, p["classification"])
                    found[p["source_uri"]] = state
            if offset is None:
                return found

    async def page(self, name: str, *, offset: Any, limit: int) -> tuple[list[Point], Any]:
        """Up to limit points (vectors and payload) from offset on, and the next offset (None at the end)."""
        return await self._run(self.backend.scroll, name, None, keys=True, offset=offset, limit=limit, vectors=True)

    async def remove_document(self, name: str, document_id: str) -> None:
        await self._run(self.backend.delete_where, name, _document(document_id))

    async def add_points(self, name: str, points: Sequence[Point]) -> None:
        await self._run(self.backend.upsert, name, points)

    async def set_access(self, name: str, document_id: str, acl: Acl, classification: Classification) -> None:
        """Change who may read a document (every chunk of it) without re-embedding it."""
        payload = {ACL_GROUPS: sorted(acl.groups), ACL_USERS: sorted(acl.users), "classification": classification}
        await self._run(self.backend.set_payload_where, name, payload, _document(document_id))

    # ---- search -----------------------------------------------------------------------

    async def chunk(self, name: str, chunk_id: str, *, where: models.Filter) -> RetrievedChunk | None:
        """One chunk by its id if it passes ``where`` (the reader's ACL filter), else None."""
        selector = models.Filter(must=[models.HasIdCondition(has_id=[chunk_id]), where])
        points, _ = await self._run(self.backend.scroll, name, selector, keys=True, offset=None, limit=1, vectors=False)
        if not points:
            return None
        return RetrievedChunk.from_payload(points[0].chunk_id, name, 1.0, points[0].payload)

    async def search(
        self,
        name: str,
        *,
        dense: list[float],
        sparse: TermVector,
        where: models.Filter,
        limit: int,
        hybrid: bool,
        min_score: float,
    ) -> tuple[list[RetrievedChunk], bool]:
        """The best chunks that pass ``where``, and whether any is relevant (dense score >= min_score).

        Hybrid: dense and sparse candidates, each prefetch carrying the filter, fused by the
        engine (RRF); the scores are then RRF scores. The same batch asks for the best dense
        score above min_score, which decides relevance. Dense only: the best chunk's own score
        decides relevance, so one query does.
        """
        found, relevant = await self._run(
            self.backend.search,
            name,
            dense=dense,
            sparse=models.SparseVector(indices=sparse.indices, values=sparse.values),
            where=where,
            limit=limit,
            hybrid=hybrid,
            min_score=min_score,
        )
        return [RetrievedChunk.from_payload(pid, name, score, payload) for pid, score, payload in found], relevant


def first_chunks() -> models.Filter:
    """Each document's first chunk (it carries the document's stored state)."""
    return models.Filter(must=[models.FieldCondition(key="chunk_index", match=models.MatchValue(value=0))])


def _document(document_id: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))])
