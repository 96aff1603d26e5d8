"""Wire models of the RAG API (retrieve, citations, admin collections); none of this is in OpenAI's API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from suite.gateway.openai.protocol import OpenAIModel
from suite.rag import Classification


class RetrieveRequest(OpenAIModel):
    query: str = Field(min_length=1, max_length=8000)
    collections: list[str] = Field(min_length=1, max_length=16)
    # None: rag.top_k; at most rag.max_top_k.
    top_k: int | None = Field(default=None, ge=1, le=200)
    # Only chunks of these documents (still only those the caller may read).
    document_ids: list[str] | None = Field(default=None, min_length=1, max_length=100)


class Source(OpenAIModel):
    """Where a chunk comes from: enough to open the document at the right page or section."""

    document_id: str
    collection: str
    title: str
    source_uri: str
    page: int | None
    section: str
    classification: str


class RetrievedItem(OpenAIModel):
    object: Literal["retrieval.chunk"] = "retrieval.chunk"
    chunk_id: str
    text: str
    # Hybrid collections: the RRF score; dense-only collections: cosine similarity.
    score: float
    source: Source


class RetrieveResponse(OpenAIModel):
    object: Literal["list"] = "list"
    data: list[RetrievedItem]
    # False when nothing reached rag.min_score (data is then empty).
    relevant: bool


class CitationModel(OpenAIModel):
    """One numbered source of a grounded chat answer ([1], [2], ... in the text)."""

    index: int
    document_id: str
    title: str
    source_uri: str
    page: int | None
    section: str
    chunk_id: str
    collection: str
    score: float


# ---- administration: /v1/admin/collections --------------------------------------------------


class CollectionInfo(OpenAIModel):
    object: Literal["collection"] = "collection"
    name: str
    documents: int
    chunks: int
    vector_size: int
    hybrid: bool


class CollectionList(OpenAIModel):
    object: Literal["list"] = "list"
    data: list[CollectionInfo]


class CollectionCreate(OpenAIModel):
    name: str = Field(min_length=1, max_length=63)


class IngestRequest(OpenAIModel):
    """Ingest a folder, file or Confluence export that lies on the gateway host under rag.ingest_roots."""

    path: str = Field(min_length=1, max_length=4096)
    # The ACL and classification of documents without a sidecar or mapping rule of their own.
    groups: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    classification: Classification = "internal"
    # A mapping file (path globs to an ACL), also under rag.ingest_roots.
    acl_map: str | None = None
    create: bool = False


class IngestProgress(OpenAIModel):
    """One line of the ingest stream (application/x-ndjson) per document handled."""

    object: Literal["ingest.progress"] = "ingest.progress"
    done: int
    total: int
    # Chunks embedded and handed to the store so far, and the run's seconds so far.
    chunks: int = 0
    seconds: float = 0.0


class IngestResult(OpenAIModel):
    """The stream's last line: what the run did."""

    object: Literal["ingest.result"] = "ingest.result"
    collection: str
    summary: dict[str, int | float]
    # Source URI -> why it was skipped.
    failed: dict[str, str]
    # Stored with no ACL: readable by no one until an admin grants access.
    without_acl: list[str]
