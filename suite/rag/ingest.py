"""Ingest: documents from a connector into a knowledge collection, incrementally by content hash.

Per document: unchanged bytes are skipped (an ACL or classification change alone is applied to
the stored chunks without re-embedding); new and changed documents are loaded, chunked,
embedded and replace their old chunks; documents the source no longer has (under the
connector's scope) are removed. A document that cannot be read is reported by name and
skipped, keeping whatever version was stored before, and the run goes on.

Resumable: a document's stored state (hash, ACL) is its first chunk's payload, and that chunk is
written last, after every other chunk of the document. A run that is interrupted (killed, the
store gone, Ctrl-C) therefore leaves each document either complete, and skipped as unchanged by
the next run, or without its first chunk, and then invisible to the next run, which writes it
again (after deleting what is left of it: chunk ids are derived from the document and index, so
the rewrite is idempotent). The next run thus continues where the last one stopped; documents
the source lost are removed at the end of a run that gets there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from suite.errors import DocumentUnreadable, InvalidRequest
from suite.rag.acl import ACL_GROUPS, ACL_USERS
from suite.rag.chunking import Chunker
from suite.rag.documents import Chunk, SourceDocument, content_hash
from suite.rag.loaders import load
from suite.rag.store import KnowledgeStore, Point, StoredDocument
from suite.rag.vectors import TextEncoder


@dataclass(frozen=True)
class IngestProgress:
    """Where a run stands, after each document: for progress bars and the gateway's progress lines."""

    documents: int
    total: int
    # Chunks embedded and handed to the store so far.
    chunks: int
    seconds: float

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


@dataclass
class IngestReport:
    """What one run did, by source URI."""

    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    access_changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # Stored without any ACL: readable by no one until an admin grants access.
    without_acl: list[str] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    # Whether the engine built indexes after the run (suite.rag.service: optimize after ingest).
    optimized: bool = False
    optimize_seconds: float = 0.0

    def summary(self) -> dict[str, int | float]:
        """Counts for the audit record and the CLI's last line."""
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "access_changed": len(self.access_changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "failed": len(self.failed),
            "without_acl": len(self.without_acl),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 2),
            "optimized": self.optimized,
            "optimize_seconds": round(self.optimize_seconds, 2),
        }


class Ingestor:
    """Brings a collection in line with a source; chunks are embedded in batches across documents."""

    def __init__(self, store: KnowledgeStore, encoder: TextEncoder, chunker: Chunker, *, batch: int) -> None:
        self._store = store
        self._encoder = encoder
        self._chunker = chunker
        self._batch = batch
        self._pending: list[Chunk] = []
        # The previous batch's points on their way into the store while the next batch is embedded.
        self._storing: asyncio.Future[None] | None = None

    async def run(
        self,
        collection: str,
        documents: Sequence[SourceDocument],
        *,
        scope: str,
        advance: Callable[[IngestProgress], None] = lambda _: None,
    ) -> IngestReport:
        """Ingest documents (all under scope) into an existing collection; removes what scope lost.

        ``advance`` is called after each document with where the run stands.
        """
        if not await self._store.exists(collection):
            raise InvalidRequest(f"No collection '{collection}': create it first.", param="collection")
        started = time.perf_counter()
        report = IngestReport(collection)
        stored = await self._store.documents(collection, scope=scope)
        seen = set()
        try:
            for done, document in enumerate(documents, start=1):
                seen.add(document.uri)
                try:
                    await self._one(collection, document, stored.get(document.uri), report)
                except (DocumentUnreadable, OSError) as exc:
                    report.failed[document.uri] = exc.message if isinstance(exc, DocumentUnreadable) else str(exc)
                advance(IngestProgress(done, len(documents), report.chunks, time.perf_counter() - started))
            await self._flush(collection, report)
        finally:
            await self._stored()
        for uri, state in stored.items():
            if uri not in seen:
                await self._store.remove_document(collection, state.document_id)
                report.removed.append(uri)
        report.seconds = time.perf_counter() - started
        return report

    async def _one(
        self, collection: str, document: SourceDocument, stored: StoredDocument | None, report: IngestReport
    ) -> None:
        data = await asyncio.to_thread(document.read)
        digest = content_hash(data)
        if document.acl.empty:
            report.without_acl.append(document.uri)
        if stored is not None and stored.content_hash == digest:
            if (stored.acl, stored.classification) != (document.acl, document.classification):
                await self._store.set_access(collection, document.document_id, document.acl, document.classification)
                report.access_changed.append(document.uri)
            else:
                report.unchanged.append(document.uri)
            return
        chunks = await asyncio.to_thread(self._chunk, document, data, digest)
        if not chunks:
            raise DocumentUnreadable(f"{document.uri}: no text found (a scanned PDF needs OCR first)")
        # Also for a new document: an interrupted run may have left some of its chunks (not the first).
        await self._store.remove_document(collection, document.document_id)
        (report.updated if stored is not None else report.added).append(document.uri)
        # The first chunk last: it marks the document as stored (see the module's docstring).
        self._pending += [*chunks[1:], chunks[0]]
        if len(self._pending) >= self._batch:
            await self._flush(collection, report)

    def _chunk(self, document: SourceDocument, data: bytes, digest: str) -> list[Chunk]:
        return self._chunker.chunks(document, load(document, data), content_hash=digest)

    async def _flush(self, collection: str, report: IngestReport) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._batch], self._pending[self._batch :]
            texts = [c.embedding_text for c in batch]
            dense = await self._encoder.dense(texts, kind="passage")
            sparse = await self._encoder.sparse(texts)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            points = [Point(c.chunk_id, d, s, _payload(c, now)) for c, d, s in zip(batch, dense, sparse, strict=True)]
            await self._stored()
            self._storing = asyncio.ensure_future(self._store.add_points(collection, points))
            report.chunks += len(points)

    async def _stored(self) -> None:
        # Waits for the batch in flight; its failure surfaces here, before anything else is written.
        if self._storing is not None:
            storing, self._storing = self._storing, None
            await storing


def _payload(chunk: Chunk, ingested_at: str) -> dict[str, object]:
    return {
        "document_id": chunk.document_id,
        "chunk_index": chunk.index,
        "text": chunk.text,
        "title": chunk.title,
        "source_uri": chunk.source_uri,
        "page": chunk.page,
        "section": chunk.section,
        "content_hash": chunk.content_hash,
        "classification": chunk.classification,
        ACL_GROUPS: sorted(chunk.acl.groups),
        ACL_USERS: sorted(chunk.acl.users),
        "ingested_at": ingested_at,
    }
