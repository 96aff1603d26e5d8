"""RAG: ingest internal documents, retrieve what a caller may read, ground answers with citations.

Connectors yield documents with ACLs, loaders turn them into structured text, the chunker
cuts them in the embedding model's tokens, and the store keeps them in Qdrant (dense +
sparse vectors, ACL payload). Retrieval always carries the caller's ACL filter; retrieved
chunks pass a screening stage before they reach a prompt. See docs/rag.md.
"""

from suite.rag.connectors import AclEntry, ConfluenceExportConnector, Connector, FolderConnector
from suite.rag.documents import Acl, Chunk, SourceDocument
from suite.rag.grounding import Citation, citations, grounding_prompt
from suite.rag.ingest import IngestReport
from suite.rag.retrieval import Retrieval
from suite.rag.retrieved import RetrievedChunk
from suite.rag.screening import AllowAll, ChunkScreen, ScreenResult
from suite.rag.service import RagService
from suite.rag.store import CollectionStats

__all__ = [
    "Acl",
    "AclEntry",
    "AllowAll",
    "Chunk",
    "ChunkScreen",
    "Citation",
    "CollectionStats",
    "ConfluenceExportConnector",
    "Connector",
    "FolderConnector",
    "IngestReport",
    "RagService",
    "Retrieval",
    "RetrievedChunk",
    "ScreenResult",
    "SourceDocument",
    "citations",
    "grounding_prompt",
]
