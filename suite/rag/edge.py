"""The embedded knowledge store on Qdrant Edge (``rag.engine: edge``, the default): the Qdrant engine in process.

Each collection is one Edge shard in a directory under ``rag.edge_path``: HNSW for the dense
vector, an inverted index with IDF for the sparse one, payload indexes, the same filters and
fusion as a Qdrant server (suite.rag.schema). The ACL filter arrives as a qdrant-client
``models.Filter`` (suite.rag.acl builds one filter for every store) and is translated here;
anything this translation does not know is refused, never dropped.

Single writer: the process that opens the store takes an exclusive lock on
``<edge_path>/.lock`` (released by close or by the process ending); a second process gets
``VectorStoreUnavailable`` saying who to go through. Edge has no background optimizer:
points land in appendable segments that are searched exactly; ``optimize`` builds the HNSW
and payload indexes (after an ingest, on a thread of its own; see docs/rag.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import qdrant_edge as edge
from qdrant_client import models

from suite.errors import InvalidRequest, VectorStoreUnavailable
from suite.rag.schema import (
    DENSE,
    FULL_SCAN_THRESHOLD_KB,
    HNSW_EF,
    RRF_K,
    SPARSE,
    CollectionSchema,
    candidates,
)
from suite.rag.store import Found, Point, found_of, point_of

LOCK_FILE = ".lock"
_INDEX_KINDS = {"keyword": edge.PayloadSchemaType.Keyword, "integer": edge.PayloadSchemaType.Integer}
_KIND_NAMES = {edge.PayloadSchemaType.Keyword: "keyword", edge.PayloadSchemaType.Integer: "integer"}


def edge_config(schema: CollectionSchema) -> edge.EdgeConfig:
    """The Edge shard configuration for a schema (payload indexes are created after it)."""
    return edge.EdgeConfig(
        vectors={schema.dense: edge.EdgeVectorParams(size=schema.vector_size, distance=edge.Distance.Cosine)},
        sparse_vectors={schema.sparse: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        hnsw_config=edge.HnswIndexConfig(
            m=schema.hnsw_m, ef_construct=schema.hnsw_ef_construct, full_scan_threshold=FULL_SCAN_THRESHOLD_KB
        ),
    )


def edge_filter(where: models.Filter) -> edge.Filter:
    """The Edge form of a qdrant-client filter (must / should / must_not, match value / any, ids); else TypeError."""

    def clauses(conditions: Any) -> list[Any] | None:
        if conditions is None:
            return None
        items = conditions if isinstance(conditions, list) else [conditions]
        return [condition(c) for c in items]

    def condition(c: Any) -> Any:
        if isinstance(c, models.Filter):
            return edge_filter(c)
        if isinstance(c, models.FieldCondition) and isinstance(c.match, models.MatchValue):
            return edge.FieldCondition(key=c.key, match=edge.MatchValue(c.match.value))
        if isinstance(c, models.FieldCondition) and isinstance(c.match, models.MatchAny):
            values: Any = list(c.match.any)
            return edge.FieldCondition(key=c.key, match=edge.MatchAny(values))
        if isinstance(c, models.HasIdCondition):
            return edge.HasIdCondition(point_ids={str(i) for i in c.has_id})
        raise TypeError(f"No Edge translation for the filter condition {c!r}")

    if where.min_should is not None:
        raise TypeError("No Edge translation for min_should")
    return edge.Filter(must=clauses(where.must), should=clauses(where.should), must_not=clauses(where.must_not))


class EdgeBackend:
    """Knowledge collections as Edge shards under one directory, held by this process alone."""

    workers = 2

    def __init__(self, root: Path, lock: IO[str]) -> None:
        self.root = root
        self._lock = lock
        # The dense HNSW walk's beam, and exact (brute-force) search instead: benchmarks/rag_retrieval.py
        # sweeps them against exact numpy search; the suite keeps HNSW_EF.
        self.hnsw_ef = HNSW_EF
        self.exact = False
        self._shards: dict[str, edge.EdgeShard] = {}
        self._guard = threading.Lock()

    @classmethod
    def open(cls, root: Path) -> EdgeBackend:
        """Take the store lock and open the directory (VectorStoreUnavailable when another process holds it)."""
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / LOCK_FILE).open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise VectorStoreUnavailable(
                f"The vector store at {root} is held by {holder} (is `suite up` running?). "
                "Ingest through it (`suite ingest --gateway`), stop it, or use a Qdrant server (rag.engine: server)."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()}\n")
        lock.flush()
        return cls(root, lock)

    def close(self) -> None:
        with self._guard:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def _shard(self, name: str) -> edge.EdgeShard:
        with self._guard:
            shard = self._shards.get(name)
            if shard is None:
                if not (self.root / name / "edge_config.json").exists():
                    raise InvalidRequest(f"No collection '{name}'.", param="collection")
                shard = self._shards[name] = edge.EdgeShard.load(str(self.root / name))
            return shard

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "edge_config.json").exists())

    def exists(self, name: str) -> bool:
        return (self.root / name / "edge_config.json").exists()

    def create(self, name: str, schema: CollectionSchema) -> None:
        with self._guard:
            shard = edge.EdgeShard.create(str(self.root / name), edge_config(schema))
            for field, kind in schema.indexed_fields.items():
                shard.update(edge.UpdateOperation.create_field_index(field, _INDEX_KINDS[kind]))
            self._shards[name] = shard

    def delete(self, name: str) -> None:
        with self._guard:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self.root / name)

    def vector_size(self, name: str) -> int:
        config = json.loads((self.root / name / "edge_config.json").read_text())
        return int(config["vectors"][DENSE]["size"])

    def indexed_fields(self, name: str) -> dict[str, str]:
        schema = self._shard(name).info().payload_schema
        return {field: _KIND_NAMES[info.data_type] for field, info in schema.items()}

    def count(self, name: str, where: models.Filter | None) -> int:
        request = edge.CountRequest(exact=True, filter=edge_filter(where) if where is not None else None)
        return self._shard(name).count(request)

    def scroll(
        self, name: str, where: models.Filter | None, *, keys: list[str] | bool, offset: Any, limit: int, vectors: bool
    ) -> tuple[list[Point], Any]:
        request = edge.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=edge_filter(where) if where is not None else None,
            with_payload=keys,
            with_vector=vectors,
        )
        records, after = self._shard(name).scroll(request)
        return [point_of(r.id, r.vector, r.payload) for r in records], after

    def delete_where(self, name: str, where: models.Filter) -> None:
        self._shard(name).update(edge.UpdateOperation.delete_points_by_filter(edge_filter(where)))

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        batch = [
            edge.Point(
                p.chunk_id,
                {DENSE: p.dense, SPARSE: edge.SparseVector(p.sparse.indices, p.sparse.values)},
                p.payload,
            )
            for p in points
        ]
        self._shard(name).update(edge.UpdateOperation.upsert_points(batch))

    def set_payload_where(self, name: str, payload: dict[str, Any], where: models.Filter) -> None:
        self._shard(name).update(edge.UpdateOperation.set_payload_by_filter(edge_filter(where), payload))

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
        shard = self._shard(name)
        readable = edge_filter(where)
        params = edge.SearchParams(hnsw_ef=self.hnsw_ef, exact=self.exact)
        nearest = edge.Query.Nearest(dense, using=DENSE)
        if not hybrid:
            request = edge.QueryRequest(limit=limit, query=nearest, filter=readable, with_payload=True, params=params)
            points = found_of(shard.query(request))
            return points, bool(points) and points[0][1] >= min_score
        many = candidates(limit)
        terms = edge.SparseVector(list(sparse.indices), list(sparse.values))
        main = edge.QueryRequest(
            limit=limit,
            prefetches=[
                edge.Prefetch(limit=many, query=nearest, filter=readable, params=params),
                edge.Prefetch(limit=many, query=edge.Query.Nearest(terms, using=SPARSE), filter=readable),
            ],
            query=edge.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub omits the nested classes
            with_payload=True,
        )
        relevance = edge.QueryRequest(
            limit=1, query=nearest, filter=readable, score_threshold=min_score, with_payload=False, params=params
        )
        top, relevant = shard.query_batch(edge.QueryBatchRequest([main, relevance]))
        return found_of(top), bool(relevant)

    def optimize(self, name: str) -> bool:
        """Build the HNSW and payload indexes of the collection's new segments (blocks; minutes at 100k)."""
        return self._shard(name).optimize()

    def flush(self, name: str) -> None:
        self._shard(name).flush()
