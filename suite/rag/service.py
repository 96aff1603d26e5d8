"""RAG in one process: the store, the encoder, retrieval with screening, collections and ingest over them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from suite.auth import Policy, Principal
from suite.config import Settings
from suite.embeddings import EmbeddingService
from suite.rag.acl import read_filter
from suite.rag.chunking import Chunker
from suite.rag.documents import SourceDocument
from suite.rag.ingest import Ingestor, IngestProgress, IngestReport
from suite.rag.rerank import Reranker
from suite.rag.retrieval import Retrieval, Retriever
from suite.rag.retrieved import RetrievedChunk
from suite.rag.screening import AllowAll, ChunkScreen
from suite.rag.store import CollectionStats, KnowledgeStore
from suite.rag.vectors import TextEncoder


class RagService:
    """Opened once (after the embedding models are loaded) by the gateway or a CLI command."""

    def __init__(
        self, settings: Settings, embeddings: EmbeddingService, policy: Policy, *, screen: ChunkScreen | None = None
    ) -> None:
        self.settings = settings
        self._embeddings = embeddings
        self._policy = policy
        # What retrieved chunks pass before any prompt (the guardrails' indirect-injection screen); none: all.
        self.screen: ChunkScreen = screen if screen is not None else AllowAll()
        self._store: KnowledgeStore | None = None
        self._reranker: Reranker | None = None
        # One ingest per collection at a time: two would both see a document as new.
        self._ingesting: dict[str, asyncio.Lock] = {}

    @classmethod
    def configured(
        cls, settings: Settings, embeddings: EmbeddingService, policy: Policy, *, screen: ChunkScreen | None = None
    ) -> RagService | None:
        """RAG for these settings, or None when rag.embedding_model is not among the embedding models."""
        if settings.rag.embedding_model not in embeddings.names:
            return None
        return cls(settings, embeddings, policy, screen=screen)

    @property
    def store(self) -> KnowledgeStore:
        if self._store is None:
            raise RuntimeError("RagService.open() first")
        return self._store

    @property
    def encoder(self) -> TextEncoder:
        """The RAG embedding model's encoder (dense and term vectors); after open()."""
        return self._encoder

    async def open(self) -> None:
        """Open (or connect to) the vector store; VectorStoreUnavailable when it cannot be."""
        if self._store is None:
            self._store = await asyncio.to_thread(KnowledgeStore.open, self.settings)
        encoder = TextEncoder(self._embeddings, self.settings.rag.embedding_model)
        self._encoder = encoder
        rerank = self.settings.rag.rerank
        if rerank.model_dir is not None and self._reranker is None:
            reranker = Reranker(self.settings.resolve(rerank.model_dir), rerank)
            await reranker.load()
            self._reranker = reranker
        self._retriever = Retriever(self.settings.rag, self.store, encoder, self._policy, reranker=self._reranker)

    def close(self) -> None:
        if self._reranker is not None:
            self._reranker.close()
            self._reranker = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # ---- retrieval --------------------------------------------------------------------

    async def retrieve(
        self,
        principal: Principal,
        query: str,
        collections: list[str],
        *,
        top_k: int | None = None,
        document_ids: list[str] | None = None,
    ) -> Retrieval:
        """Readable chunks for the question, after the screening stage."""
        found = await self._retriever.retrieve(principal, query, collections, top_k=top_k, document_ids=document_ids)
        screened = await self.screen.screen(found.chunks, principal=principal, query=query)
        return Retrieval(
            query=found.query,
            collections=found.collections,
            chunks=screened.chunks,
            relevant=found.relevant and bool(screened.chunks),
            decisions=found.decisions,
            verdicts=screened.verdicts,
        )

    async def passage(self, principal: Principal, collection: str, chunk_id: str) -> RetrievedChunk | None:
        """One cited chunk, re-checked: the collection's policy (PermissionDenied) and the document's ACL
        (None when the principal may not read it, the same answer as for a chunk that does not exist)."""
        await self._retriever.authorize(principal, [collection])
        return await self.store.chunk(collection, chunk_id, where=read_filter(principal))

    # ---- administration ---------------------------------------------------------------

    async def create_collection(self, name: str) -> None:
        await self.store.create(name, vector_size=await self._encoder.size())

    async def delete_collection(self, name: str) -> None:
        await self.store.delete(name)

    async def collections(self) -> list[str]:
        return await self.store.names()

    async def searchable(self, principal: Principal) -> list[str]:
        """The collections the principal may search (the policy's ``retrieval`` route)."""
        names = await self.store.names()
        return [n for n in names if self._policy.decide(principal, "retrieval", collection=n).allowed]

    async def stats(self, name: str) -> CollectionStats:
        return await self.store.stats(name)

    async def ingest(
        self,
        collection: str,
        documents: Sequence[SourceDocument],
        *,
        scope: str,
        advance: Callable[[IngestProgress], None] = lambda _: None,
        optimize: bool = False,
    ) -> IngestReport:
        """Bring a collection in line with a source's documents (see suite.rag.ingest); one run per collection.

        ``optimize``: afterwards, when the run changed anything, let the engine build its indexes
        (``KnowledgeStore.optimize``, on a worker thread). Meant for a process that owns the store
        without serving queries (the CLI): qdrant-edge-py 0.9 holds the GIL while it optimizes, so
        a gateway would stall for as long (docs/rag.md, "Indexing").
        """
        rag = self.settings.rag
        chunker = Chunker(self._encoder.tokenizer, size=rag.chunk_tokens, overlap=rag.chunk_overlap_tokens)
        ingestor = Ingestor(self.store, self._encoder, chunker, batch=rag.ingest_batch)
        async with self._ingesting.setdefault(collection, asyncio.Lock()):
            report = await ingestor.run(collection, documents, scope=scope, advance=advance)
            if optimize and (report.chunks or report.removed):
                started = time.perf_counter()
                report.optimized = await self.store.optimize(collection)
                report.optimize_seconds = time.perf_counter() - started
            return report
