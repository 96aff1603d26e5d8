"""RAG: ingest internal documents, retrieve what a caller may read, ground answers with citations.

Connectors yield documents with ACLs, loaders turn them into structured text, the chunker
cuts them in the embedding model's tokens, and the store keeps them in Qdrant (dense +
sparse vectors, ACL payload). Retrieval always carries the caller's ACL filter; retrieved
chunks pass a screening stage before they reach a prompt. See docs/rag.md.

Names are imported on first use (suite.lazy): importing a submodule such as the command group
does not load the heavy libraries of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.rag.connectors import AclEntry, ConfluenceExportConnector, Connector, FolderConnector, open_source
    from suite.rag.documents import Acl, Chunk, Classification, SourceDocument
    from suite.rag.grounding import Citation, citations, grounding_prompt
    from suite.rag.ingest import IngestProgress, IngestReport
    from suite.rag.retrieval import Retrieval
    from suite.rag.retrieved import RetrievedChunk
    from suite.rag.screening import AllowAll, ChunkScreen, ScreenResult
    from suite.rag.service import RagService
    from suite.rag.store import CollectionStats, check_name

__all__ = [
    "Acl",
    "AclEntry",
    "AllowAll",
    "Chunk",
    "ChunkScreen",
    "Citation",
    "Classification",
    "CollectionStats",
    "ConfluenceExportConnector",
    "Connector",
    "FolderConnector",
    "IngestProgress",
    "IngestReport",
    "RagService",
    "Retrieval",
    "RetrievedChunk",
    "ScreenResult",
    "SourceDocument",
    "check_name",
    "citations",
    "grounding_prompt",
    "open_source",
]

__getattr__ = lazy_names(
    __name__,
    {
        "check_name": "store",
        "Classification": "documents",
        "open_source": "connectors",
        "AclEntry": "connectors",
        "ConfluenceExportConnector": "connectors",
        "Connector": "connectors",
        "FolderConnector": "connectors",
        "Acl": "documents",
        "Chunk": "documents",
        "SourceDocument": "documents",
        "Citation": "grounding",
        "citations": "grounding",
        "grounding_prompt": "grounding",
        "IngestProgress": "ingest",
        "IngestReport": "ingest",
        "Retrieval": "retrieval",
        "RetrievedChunk": "retrieved",
        "AllowAll": "screening",
        "ChunkScreen": "screening",
        "ScreenResult": "screening",
        "RagService": "service",
        "CollectionStats": "store",
    },
)
