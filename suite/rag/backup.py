"""Snapshots, restores and migrations of knowledge collections, the same on every engine.

A snapshot is one gzip'd JSON-lines file: a header (format, collection, vector size, chunk
and document counts) and then one line per point (id, dense and sparse vectors, payload:
ACLs included). It is engine-neutral on purpose: a snapshot of the embedded store restores
into a Qdrant server and back, and `suite collections migrate` is the same copy read from
qdrant-client's local mode. A restore is verified before it is reported: the chunk and
document counts must match the header and a sample point must be found by its own vector.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import models

from suite.errors import InvalidRequest, RestoreFailed
from suite.rag.store import KnowledgeStore, Point
from suite.rag.vectors import TermVector

FORMAT = "suite-rag-snapshot/1"
BATCH = 512
_KEPT = "it is kept as written, for inspection: delete it, or restore again with --replace"


@dataclass(frozen=True)
class CopyReport:
    collection: str
    chunks: int
    documents: int


async def points_of(store: KnowledgeStore, name: str) -> AsyncIterator[list[Point]]:
    """Every point of a collection, vectors and payload, in batches."""
    offset: Any = None
    while True:
        batch, offset = await store.page(name, offset=offset, limit=BATCH)
        if batch:
            yield batch
        if offset is None:
            return


async def snapshot(store: KnowledgeStore, name: str, target: Path) -> CopyReport:
    """Write a collection to a snapshot file (written beside and renamed, so a file is whole or absent)."""
    stats = await store.stats(name)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with gzip.open(partial, "wt", encoding="utf-8") as out:
        header = {"format": FORMAT, "collection": name, "vector_size": stats.vector_size}
        out.write(json.dumps({**header, "chunks": stats.chunks, "documents": stats.documents}) + "\n")
        async for batch in points_of(store, name):
            for p in batch:
                line = {
                    "id": p.chunk_id,
                    "dense": p.dense,
                    "sparse": [p.sparse.indices, p.sparse.values],
                    "payload": p.payload,
                }
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += len(batch)
    if written != stats.chunks:
        partial.unlink()
        raise RestoreFailed(
            f"The collection '{name}' changed while it was written ({written} of {stats.chunks} chunks)."
        )
    os.replace(partial, target)
    return CopyReport(name, stats.chunks, stats.documents)


async def restore(store: KnowledgeStore, source: Path, *, name: str | None = None, replace: bool = False) -> CopyReport:
    """Recreate a collection from a snapshot file and verify it (counts, sample query)."""
    try:
        with gzip.open(source, "rt", encoding="utf-8") as lines:
            header = json.loads(next(lines))
            if header.get("format") != FORMAT:
                raise InvalidRequest(f"{source} is not a collection snapshot ({FORMAT}).", param="snapshot")
            target = name or str(header["collection"])
            await _fresh(store, target, vector_size=int(header["vector_size"]), replace=replace)
            batch: list[Point] = []
            for line in lines:
                batch.append(_point(json.loads(line)))
                if len(batch) == BATCH:
                    await store.add_points(target, batch)
                    batch = []
            if batch:
                await store.add_points(target, batch)
    except (OSError, EOFError, ValueError, KeyError, StopIteration) as exc:
        raise InvalidRequest(f"{source} cannot be read as a collection snapshot: {exc}", param="snapshot") from None
    return await verify(store, target, chunks=int(header["chunks"]), documents=int(header["documents"]))


async def copy(source: KnowledgeStore, target: KnowledgeStore, name: str, *, replace: bool = False) -> CopyReport:
    """Copy a collection between stores (migration from local mode), then verify it like a restore."""
    stats = await source.stats(name)
    await _fresh(target, name, vector_size=stats.vector_size, replace=replace)
    async for batch in points_of(source, name):
        await target.add_points(name, batch)
    return await verify(target, name, chunks=stats.chunks, documents=stats.documents)


async def verify(store: KnowledgeStore, name: str, *, chunks: int, documents: int) -> CopyReport:
    """RestoreFailed unless the collection holds the expected counts and finds a sample point by its vector."""
    stats = await store.stats(name)
    if (stats.chunks, stats.documents) != (chunks, documents):
        raise RestoreFailed(
            f"The collection '{name}' holds {stats.chunks} chunks / {stats.documents} documents, "
            f"its source {chunks} / {documents}; {_KEPT}."
        )
    async for batch in points_of(store, name):
        sample = batch[0]
        where = models.Filter(
            must=[
                models.FieldCondition(key="document_id", match=models.MatchValue(value=sample.payload["document_id"]))
            ]
        )
        found, _ = await store.search(
            name, dense=sample.dense, sparse=sample.sparse, where=where, limit=10, hybrid=False, min_score=-1
        )
        if sample.chunk_id not in [c.chunk_id for c in found]:
            raise RestoreFailed(f"A sample query in the collection '{name}' does not find its own chunk; {_KEPT}.")
        break
    return CopyReport(name, stats.chunks, stats.documents)


async def _fresh(store: KnowledgeStore, name: str, *, vector_size: int, replace: bool) -> None:
    if await store.exists(name):
        if not replace:
            raise InvalidRequest(
                f"The collection '{name}' exists already (replace it with --replace).", param="collection"
            )
        await store.delete(name)
    await store.create(name, vector_size=vector_size)


def _point(line: dict[str, Any]) -> Point:
    indices, values = line["sparse"]
    return Point(str(line["id"]), list(line["dense"]), TermVector(list(indices), list(values)), dict(line["payload"]))
