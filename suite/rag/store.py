"""Knowledge collections in Qdrant: one Qdrant collection each, dense + sparse vectors, ACL payload indexes.

The same code runs on Qdrant local mode (an on-disk path, the embedded default) and on a
Qdrant server or cluster (``rag.qdrant_url``). The client is synchronous; every call runs on
the store's own worker so the event loop never waits on it. Local mode allows one client per
path: the worker is a single thread there (local mode has no locking of its own), and a
second process opening the path gets ``VectorStoreUnavailable`` with what to do about it.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from pydantic import SecretStr
from qdrant_client import QdrantClient, models

from suite.config import RagSettings, Settings
from suite.errors import InvalidRequest, VectorStoreUnavailable
from suite.rag.acl import ACL_GROUPS, ACL_USERS
from suite.rag.documents import Acl, Classification
from suite.rag.retrieved import RetrievedChunk
from suite.rag.vectors import TermVector

_T = TypeVar("_T")
DENSE, SPARSE = "dense", "sparse"
COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KEYWORD_FIELDS = (ACL_GROUPS, ACL_USERS, "document_id", "source_uri")


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


def check_name(name: str) -> str:
    """A valid knowledge collection name, or InvalidRequest."""
    if not COLLECTION_NAME.match(name):
        raise InvalidRequest(
            f"Invalid collection name {name!r}: lower-case letters, digits, '-' and '_' (at most 63).",
            param="collection",
        )
    return name


class KnowledgeStore:
    """Qdrant, as the knowledge collections see it."""

    def __init__(self, client: QdrantClient, *, local: bool) -> None:
        self._client = client
        self.local = local
        self._executor = ThreadPoolExecutor(max_workers=1 if local else 8, thread_name_prefix="qdrant")

    @classmethod
    def open(cls, settings: Settings) -> KnowledgeStore:
        """Connect to the configured server, or open the local path (VectorStoreUnavailable if held elsewhere)."""
        rag: RagSettings = settings.rag
        if rag.qdrant_url:
            return cls(QdrantClient(url=rag.qdrant_url, api_key=_secret(rag.qdrant_api_key), timeout=30), local=False)
        path = settings.resolve(rag.qdrant_path)
        path.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # Local mode warns about large collections on every open; stats and the docs say it instead.
                warnings.simplefilter("ignore", UserWarning)
                client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
        except RuntimeError as exc:
            raise VectorStoreUnavailable(
                f"The vector store at {path} is in use by another process (is `suite up` running?). "
                "Ingest through it (`suite ingest --gateway`), stop it, or configure a Qdrant server (rag.qdrant_url)."
            ) from exc
        return cls(client, local=True)

    async def _run(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(work, *args, **kwargs))

    def close(self) -> None:
        """Close the client (releases the local path) and the worker."""
        self._executor.shutdown(wait=True)
        self._client.close()

    # ---- collections ------------------------------------------------------------------

    async def names(self) -> list[str]:
        result = await self._run(self._client.get_collections)
        return sorted(c.name for c in result.collections)

    async def exists(self, name: str) -> bool:
        return bool(COLLECTION_NAME.match(name)) and await self._run(self._client.collection_exists, name)

    async def create(self, name: str, *, vector_size: int) -> None:
        """A new collection (InvalidRequest if it exists): cosine dense vectors, IDF sparse vectors, ACL indexes."""
        if await self.exists(check_name(name)):
            raise InvalidRequest(f"The collection '{name}' exists already.", param="collection")
        await self._run(
            self._client.create_collection,
            name,
            vectors_config={DENSE: models.VectorParams(size=vector_size, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        with warnings.catch_warnings():
            # Local mode records the indexes (and warns that it does not use them); a server uses them.
            warnings.simplefilter("ignore", UserWarning)
            for field in _KEYWORD_FIELDS:
                await self._run(self._client.create_payload_index, name, field, models.PayloadSchemaType.KEYWORD)
            await self._run(self._client.create_payload_index, name, "chunk_index", models.PayloadSchemaType.INTEGER)

    async def delete(self, name: str) -> None:
        if not await self.exists(name):
            raise InvalidRequest(f"No collection '{name}'.", param="collection")
        await self._run(self._client.delete_collection, name)

    async def stats(self, name: str) -> CollectionStats:
        if not await self.exists(name):
            raise InvalidRequest(f"No collection '{name}'.", param="collection")
        info = await self._run(self._client.get_collection, name)
        chunks = (await self._run(self._client.count, name, exact=True)).count
        documents = (await self._run(self._client.count, name, count_filter=_first_chunks(), exact=True)).count
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) else 0
        return CollectionStats(name=name, chunks=chunks, documents=documents, vector_size=size)

    # ---- documents --------------------------------------------------------------------

    async def documents(self, name: str, *, scope: str) -> dict[str, StoredDocument]:
        """Source URI -> stored state of every document under scope (read from each document's first chunk)."""
        return await self._run(self._documents, name, scope)

    def _documents(self, name: str, scope: str) -> dict[str, StoredDocument]:
        found: dict[str, StoredDocument] = {}
        offset: Any = None
        keys = ["source_uri", "document_id", "content_hash", ACL_GROUPS, ACL_USERS, "classification"]
        while True:
            points, offset = self._client.scroll(
                name, scroll_filter=_first_chunks(), limit=1024, offset=offset, with_payload=keys, with_vectors=False
            )
            for point in points:
                p = point.payload or {}
                if str(p.get("source_uri", "")).startswith(scope):
                    acl = Acl(frozenset(p.get(ACL_GROUPS) or []), frozenset(p.get(ACL_USERS) or []))
                    state = StoredDocument(p["document_id"], p["content_hash"], acl, p["classification"])
                    found[p["source_uri"]] = state
            if offset is None:
                return found

    async def remove_document(self, name: str, document_id: str) -> None:
        await self._run(self._client.delete, name, points_selector=_document(document_id), wait=True)

    async def add_points(self, name: str, points: Sequence[Point]) -> None:
        batch = [
            models.PointStruct(
                id=p.chunk_id,
                vector={DENSE: p.dense, SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
                payload=p.payload,
            )
            for p in points
        ]
        await self._run(self._client.upsert, name, points=batch, wait=True)

    async def set_access(self, name: str, document_id: str, acl: Acl, classification: Classification) -> None:
        """Change who may read a document (every chunk of it) without re-embedding it."""
        payload = {ACL_GROUPS: sorted(acl.groups), ACL_USERS: sorted(acl.users), "classification": classification}
        await self._run(self._client.set_payload, name, payload=payload, points=_document(document_id), wait=True)

    # ---- search -----------------------------------------------------------------------

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

        Hybrid: dense and sparse candidates, each filtered, fused by Qdrant (RRF); the scores are
        then RRF scores. One batched call also asks for the best dense score, which decides relevance.
        The fusion itself carries no filter: it only ranks what the filtered prefetches returned
        (local mode evaluates a filter point by point in Python, so each one counts). Dense only:
        the best chunk's own score decides relevance, so one query does.
        """
        if not hybrid:
            main = models.QueryRequest(query=dense, using=DENSE, filter=where, limit=limit, with_payload=True)
            (found,) = await self._run(self._client.query_batch_points, name, [main])
            chunks = self._chunks(name, found.points)
            return chunks, bool(chunks) and chunks[0].score >= min_score
        relevance = models.QueryRequest(
            query=dense, using=DENSE, filter=where, limit=1, score_threshold=min_score, with_payload=False
        )
        query_sparse = models.SparseVector(indices=sparse.indices, values=sparse.values)
        candidates = max(limit * 4, 20)
        main = models.QueryRequest(
            prefetch=[
                models.Prefetch(query=dense, using=DENSE, filter=where, limit=candidates),
                models.Prefetch(query=query_sparse, using=SPARSE, filter=where, limit=candidates),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=limit,
            with_payload=True,
        )
        found, relevant = await self._run(self._client.query_batch_points, name, [main, relevance])
        return self._chunks(name, found.points), bool(relevant.points)

    @staticmethod
    def _chunks(name: str, points: list[models.ScoredPoint]) -> list[RetrievedChunk]:
        return [RetrievedChunk.from_payload(str(p.id), name, p.score, p.payload or {}) for p in points]


def _first_chunks() -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="chunk_index", match=models.MatchValue(value=0))])


def _document(document_id: str) -> models.FilterSelector:
    condition = models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
    return models.FilterSelector(filter=models.Filter(must=[condition]))


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
