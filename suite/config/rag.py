"""RAG settings: the vector store, chunking, retrieval and grounding."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from suite.config.section import Section


class RagCollectionSettings(Section):
    """Per knowledge collection overrides."""

    # Dense + sparse (RRF) or dense only; None: rag.hybrid.
    hybrid: bool | None = None


class RerankSettings(Section):
    """The optional cross-encoder stage after retrieval (off unless model_dir is set)."""

    # A sentence-transformers CrossEncoder directory (absolute or relative to data_dir), e.g. an
    # imported bge-reranker-v2-m3 or ms-marco-MiniLM-L-6-v2; loaded from disk only, never fetched.
    model_dir: Path | None = None
    # Retrieved chunks (across the collections asked) the reranker scores; the best top_k are kept.
    candidates: int = Field(default=20, ge=1, le=200)
    batch_size: int = Field(default=16, ge=1)
    # Query + chunk tokens per pair (longer chunks are cut).
    max_length: int = Field(default=512, ge=16, le=8192)


class RagSettings(Section):
    """Retrieval-augmented generation: the vector store, chunking, retrieval and grounding."""

    # The vector store engine: "edge" (embedded default: Qdrant Edge, the Qdrant engine in the gateway's
    # process, under edge_path), "server" (a Qdrant server or cluster at qdrant_url) or "local"
    # (qdrant-client's local mode under qdrant_path: earlier releases' store, read by `suite collections migrate`).
    # Unset: "server" when qdrant_url is set, else "edge".
    engine: Literal["edge", "server", "local"] = "edge"
    # Edge store directory, absolute or relative to data_dir. Only one process holds it: while the gateway
    # runs, ingest through it (`suite ingest --gateway`).
    edge_path: Path = Path("edge")
    # Local-mode directory (earlier releases' default store).
    qdrant_path: Path = Path("qdrant")
    # A Qdrant server or cluster, e.g. https://qdrant.internal:6333 (https for TLS), for engine "server".
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    # Folders (absolute or relative to data_dir) under which the running gateway ingests on an admin's
    # request (POST /v1/admin/collections/NAME/ingest, `suite ingest --gateway`). Empty: no ingest over HTTP.
    ingest_roots: list[Path] = Field(default_factory=list)
    # The embedding model (a name in embeddings.models) that encodes chunks and questions.
    embedding_model: str = "all-minilm-l6-v2"
    # The chat model that a "rag:<collection>" alias and requests naming collections go to.
    chat_model: str = "default"
    top_k: int = Field(default=5, ge=1, le=50)
    max_top_k: int = Field(default=50, ge=1, le=200)
    # Chunk size and overlap in the embedding model's tokenizer tokens (keep below its max_seq_length).
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap_tokens: int = Field(default=32, ge=0)
    # Dense + sparse term vectors fused with Qdrant's RRF; per collection in collections.
    hybrid: bool = True
    collections: dict[str, RagCollectionSettings] = Field(default_factory=dict)
    # Below this dense (cosine) score nothing counts as relevant and the model is told so.
    min_score: float = Field(default=0.25, ge=-1, le=1)
    # Cross-encoder reranking of the retrieved candidates (docs/rag.md); off by default.
    rerank: RerankSettings = RerankSettings()
    # `suite ingest` (which owns the store) builds the engine's indexes after a run that changed
    # anything. The gateway never does so by itself (docs/rag.md, "Indexing").
    optimize_after_ingest: bool = True
    # Chunks embedded and upserted per batch while ingesting (the encoder sorts a batch by length:
    # larger batches pad less).
    ingest_batch: int = Field(default=256, ge=1)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagSettings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("rag.chunk_overlap_tokens must be smaller than rag.chunk_tokens")
        return self

    @model_validator(mode="before")
    @classmethod
    def _server_when_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("qdrant_url") and "engine" not in data:
            return {**data, "engine": "server"}
        return data

    @model_validator(mode="after")
    def _engine_reachable(self) -> RagSettings:
        if self.engine == "server" and not self.qdrant_url:
            raise ValueError("rag.engine 'server' needs rag.qdrant_url")
        return self

    def hybrid_for(self, collection: str) -> bool:
        """Whether a collection is searched dense + sparse (RRF) or dense only."""
        override = self.collections.get(collection)
        return self.hybrid if override is None or override.hybrid is None else override.hybrid
