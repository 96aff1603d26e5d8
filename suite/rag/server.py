"""The knowledge store on a Qdrant server or cluster (``rag.engine: server``), or on qdrant-client's local mode.

Same schema and queries as the embedded engine (suite.rag.schema). A server or cluster is
reached through ``qdrant-client`` (URL, API key, TLS through an https URL); distribution and
replication are the server's. Local mode (``rag.engine: local``) stays for one reason: it is
where collections of earlier releases live, and ``suite collections migrate`` reads them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from suite.errors import VectorStoreUnavailable
from suite.rag.schema import DENSE, HNSW_EF, RRF_K, SPARSE, CollectionSchema, candidates
from suite.rag.store import Found, Point, found_of, point_of


def collection_request(schema: CollectionSchema) -> dict[str, Any]:
    """The create_collection arguments for a schema (without the payload indexes)."""
    return {
        "vectors_config": {schema.dense: models.VectorParams(size=schema.vector_size, distance=models.Distance.COSINE)},
        "sparse_vectors_config": {schema.sparse: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        "hnsw_config": models.HnswConfigDiff(m=schema.hnsw_m, ef_construct=schema.hnsw_ef_construct),
    }


def index_requests(schema: CollectionSchema) -> list[tuple[str, models.PayloadSchemaType]]:
    """The payload indexes a schema asks for."""
    kinds = {"keyword": models.PayloadSchemaType.KEYWORD, "integer": models.PayloadSchemaType.INTEGER}
    return [(field, kinds[kind]) for field, kind in schema.indexed_fields.items()]


class ServerBackend:
    """Collections on a Qdrant server (or local mode), through qdrant-client; thread-safe."""

    def __init__(self, client: QdrantClient, *, local: bool) -> None:
        self._client = client
        self.local = local
        self.workers = 1 if local else 8

    @classmethod
    def connect(cls, url: str, *, api_key: str | None, timeout: int = 30) -> ServerBackend:
        """A client for a server or cluster URL (nothing is sent until the first call)."""
        return cls(QdrantClient(url=url, api_key=api_key, timeout=timeout), local=False)

    @classmethod
    def open_local(cls, path: Path) -> ServerBackend:
        """qdrant-client local mode at path (VectorStoreUnavailable when another process holds it)."""
        path.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
        except RuntimeError as exc:
            raise VectorStoreUnavailable(
                f"The local-mode vector store at {path} is in use by another process (is `suite up` running?)."
            ) from exc
        return cls(client, local=True)

    def close(self) -> None:
        self._client.close()

    def names(self) -> list[str]:
        return sorted(c.name for c in self._client.get_collections().collections)

    def exists(self, name: str) -> bool:
        return self._client.collection_exists(name)

    def create(self, name: str, schema: CollectionSchema) -> None:
        self._client.create_collection(name, **collection_request(schema))
        with warnings.catch_warnings():
            # Local mode records the indexes (and warns that it does not use them); a server uses them.
            warnings.simplefilter("ignore", UserWarning)
            for field, kind in index_requests(schema):
                self._client.create_payload_index(name, field, kind)

    def delete(self, name: str) -> None:
        self._client.delete_collection(name)

    def vector_size(self, name: str) -> int:
        vectors = self._client.get_collection(name).config.params.vectors
        return vectors[DENSE].size if isinstance(vectors, dict) else 0

    def indexed_fields(self, name: str) -> dict[str, str]:
        schema = self._client.get_collection(name).payload_schema
        return {field: str(info.data_type.value) for field, info in schema.items()}

    def count(self, name: str, where: models.Filter | None) -> int:
        return self._client.count(name, count_filter=where, exact=True).count

    def scroll(
        self, name: str, where: models.Filter | None, *, keys: list[str] | bool, offset: Any, limit: int, vectors: bool
    ) -> tuple[list[Point], Any]:
        points, after = self._client.scroll(
            name, scroll_filter=where, limit=limit, offset=offset, with_payload=keys, with_vectors=vectors
        )
        return [point_of(p.id, p.vector, p.payload) for p in points], after

    def delete_where(self, name: str, where: models.Filter) -> None:
        self._client.delete(name, points_selector=models.FilterSelector(filter=where), wait=True)

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        batch = [
            models.PointStruct(
                id=p.chunk_id,
                vector={DENSE: p.dense, SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
                payload=p.payload,
            )
            for p in points
        ]
        self._client.upsert(name, points=batch, wait=True)

    def set_payload_where(self, name: str, payload: dict[str, Any], where: models.Filter) -> None:
        self._client.set_payload(name, payload=payload, points=models.FilterSelector(filter=where), wait=True)

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
    ) -> tuple[Found, bool]:
        # Local mode searches exactly (and warns about search parameters); a server walks HNSW with this beam.
        params = None if self.local else models.SearchParams(hnsw_ef=HNSW_EF)
        if not hybrid:
            main = models.QueryRequest(
                query=dense, using=DENSE, filter=where, limit=limit, with_payload=True, params=params
            )
            (found,) = self._client.query_batch_points(name, [main])
            points = found_of(found.points)
            return points, bool(points) and points[0][1] >= min_score
        relevance = models.QueryRequest(
            query=dense,
            using=DENSE,
            filter=where,
            limit=1,
            score_threshold=min_score,
            params=params,
            with_payload=False,
        )
        many = candidates(limit)
        main = models.QueryRequest(
            prefetch=[
                models.Prefetch(query=dense, using=DENSE, filter=where, limit=many, params=params),
                models.Prefetch(query=sparse, using=SPARSE, filter=where, limit=many),
            ],
            query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            limit=limit,
            with_payload=True,
        )
        top, relevant = self._client.query_batch_points(name, [main, relevance])
        return found_of(top.points), bool(relevant.points)

    def optimize(self, name: str) -> bool:
        """A server optimizes on its own; nothing to do."""
        return False
