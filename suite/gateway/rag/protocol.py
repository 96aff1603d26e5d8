"""Wire models of the RAG API (``POST /v1/retrieve``) and of citations; none of this is in OpenAI's API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from suite.gateway.openai.protocol import OpenAIModel


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
