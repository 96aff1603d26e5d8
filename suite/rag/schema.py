"""One knowledge collection schema for every store: the embedded engine (Qdrant Edge) and a Qdrant server.

A collection holds a named dense vector (cosine, HNSW) and a named sparse term vector
weighted by IDF in the engine (the embedding model's own tokens, see suite.rag.vectors),
with keyword payload indexes on both ACL fields and on document id, source and content
hash, and an integer index on the chunk index (a document's first chunk carries its state).
Each store translates this description into its own API; tests/rag/test_schema.py checks
that both carry the same thing. Hybrid retrieval fuses filtered dense and sparse prefetches
with Reciprocal Rank Fusion inside the engine's query API.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.rag.acl import ACL_GROUPS, ACL_USERS

DENSE, SPARSE = "dense", "sparse"
KEYWORD_FIELDS = (ACL_GROUPS, ACL_USERS, "document_id", "source_uri", "content_hash")
INTEGER_FIELDS = ("chunk_index",)
# HNSW graph: Qdrant's defaults, measured in benchmarks/rag_retrieval.py (recall >= 0.98 with hnsw_ef below).
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
# Search-time beam: higher than Qdrant's default (= ef_construct) for recall under selective filters.
HNSW_EF = 128
# Below this many readable points (KB of vectors) the engine searches exactly instead of walking the graph.
FULL_SCAN_THRESHOLD_KB = 10_000
# Each filtered prefetch of a hybrid query returns this many candidates per requested chunk (at least 20).
CANDIDATES_PER_RESULT = 4
RRF_K = 60


@dataclass(frozen=True)
class CollectionSchema:
    """What a knowledge collection is, independent of the store that keeps it."""

    vector_size: int
    dense: str = DENSE
    sparse: str = SPARSE
    distance: str = "cosine"
    sparse_modifier: str = "idf"
    keyword_fields: tuple[str, ...] = KEYWORD_FIELDS
    integer_fields: tuple[str, ...] = INTEGER_FIELDS
    hnsw_m: int = HNSW_M
    hnsw_ef_construct: int = HNSW_EF_CONSTRUCT

    @property
    def indexed_fields(self) -> dict[str, str]:
        """Payload field -> index type."""
        return {**dict.fromkeys(self.keyword_fields, "keyword"), **dict.fromkeys(self.integer_fields, "integer")}


def candidates(limit: int) -> int:
    """How many candidates each filtered prefetch of a hybrid query returns."""
    return max(limit * CANDIDATES_PER_RESULT, 20)
