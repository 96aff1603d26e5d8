"""RAG retrieval on the embedded engine (Qdrant Edge): latency and recall@10 per ACL selectivity, query embedded.

Vectors: the shipped sample corpus is chunked and embedded with the real all-MiniLM-L6-v2; each
synthetic point is a random mix of two real chunk vectors plus Gaussian noise (sigma
``--noise``), normalised (purely random vectors are HNSW's worst case and understate real
embeddings). Term vectors come from the mixed chunks' own term vectors. Each point gets one of
100 ACL groups, so a reader of 1, 10 or 100 groups may read 1 %, 10 % or 100 % of the collection.
Queries are further perturbations of real chunk vectors. The reference is an exact numpy search
over the same vectors with the same filter: it gives recall@10 (dense, HNSW vs exact) and the
brute-force latency side by side. The collection is optimised (HNSW built) before the queries;
its build time is reported.

    .venv/bin/python benchmarks/rag_retrieval.py [--chunks 100000] [--queries 100] [--noise 0.35]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine_line  # benchmarks/ is on sys.path: run as a script
from qdrant_client import models

from suite.config import Settings
from suite.embeddings import EmbeddingService
from suite.observability import enforce_offline
from suite.rag import FolderConnector
from suite.rag.chunking import Chunker
from suite.rag.edge import EdgeBackend
from suite.rag.evaluation import SAMPLES_DIR
from suite.rag.loaders import load
from suite.rag.schema import CollectionSchema
from suite.rag.store import Point
from suite.rag.vectors import TermVector, TextEncoder

GROUPS = [f"g{n}" for n in range(100)]


async def corpus() -> tuple[np.ndarray, list[TermVector]]:
    settings = Settings(logging={"level": "warning"}, embeddings={"models": [{"name": "all-minilm-l6-v2"}]})
    embeddings = EmbeddingService(settings)
    await embeddings.load()
    encoder = TextEncoder(embeddings, "all-minilm-l6-v2")
    chunker = Chunker(encoder.tokenizer, size=64, overlap=8)
    texts = [
        c.text
        for d in FolderConnector(SAMPLES_DIR).documents()
        for c in chunker.chunks(d, load(d, d.read()), content_hash="")
    ]
    dense = np.array(await encoder.dense(texts, kind="passage"), dtype=np.float32)
    sparse = encoder.sparse(texts)
    embeddings.close()
    return dense, sparse


def where(groups: list[str]) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="acl_groups", match=models.MatchAny(any=groups))])


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.35)
    args = parser.parse_args()
    enforce_offline()
    rng = np.random.default_rng(7)
    base, terms = asyncio.run(corpus())
    dim = base.shape[1]

    def mix(n: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
        w = rng.random((n, 1), dtype=np.float32)
        v = w * base[a] + (1 - w) * base[b] + rng.normal(0, args.noise / np.sqrt(dim), (n, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True), a

    vectors, origin = mix(args.chunks)
    group_of = np.arange(args.chunks) % len(GROUPS)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(args.chunks)]
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        store = EdgeBackend.open(Path(scratch))
        store.create("kb", CollectionSchema(vector_size=dim))
        started = time.perf_counter()
        for lo in range(0, args.chunks, 1000):
            batch = [
                Point(
                    ids[i],
                    vectors[i].tolist(),
                    terms[origin[i]],
                    {
                        "acl_groups": [GROUPS[group_of[i]]],
                        "acl_users": [],
                        "document_id": f"d{i // 20}",
                        "chunk_index": i % 20,
                    },
                )
                for i in range(lo, min(lo + 1000, args.chunks))
            ]
            store.upsert("kb", batch)
        upsert_s = time.perf_counter() - started
        started = time.perf_counter()
        store.optimize("kb")
        optimize_s = time.perf_counter() - started
        queries, qorigin = mix(args.queries)
        print(f"Machine: {machine_line()}")
        print(
            f"chunks={args.chunks} dim={dim} upsert={upsert_s:.1f}s ({args.chunks / upsert_s:.0f}/s) "
            f"optimize={optimize_s:.1f}s"
        )
        print("| readable | dense p50 / p95 ms | hybrid p50 / p95 ms | exact numpy p95 ms | recall@10 dense |")
        print("|---|---|---|---|---|")
        for share in (1, 10, 100):
            groups = GROUPS[:share]
            allowed = group_of < share
            dense_ms, hybrid_ms, exact_ms, recalls = [], [], [], []
            for q, o in zip(queries, qorigin, strict=True):
                sparse = models.SparseVector(indices=terms[o].indices, values=terms[o].values)
                common: dict[str, Any] = {
                    "dense": q.tolist(),
                    "sparse": sparse,
                    "where": where(groups),
                    "limit": 10,
                    "min_score": 0.0,
                }
                t = time.perf_counter()
                found, _ = store.search("kb", hybrid=False, **common)
                dense_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                store.search("kb", hybrid=True, **common)
                hybrid_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                candidates = np.flatnonzero(allowed)
                scores = vectors[candidates] @ q
                top = candidates[np.argpartition(-scores, 10)[:10]]
                exact_ms.append((time.perf_counter() - t) * 1000)
                truth = {ids[i] for i in top}
                recalls.append(len(truth & {pid for pid, _, _ in found}) / 10)
            print(
                f"| {share} % | {pct(dense_ms, 50):.1f} / {pct(dense_ms, 95):.1f} "
                f"| {pct(hybrid_ms, 50):.1f} / {pct(hybrid_ms, 95):.1f} "
                f"| {pct(exact_ms, 95):.1f} | {statistics.mean(recalls):.3f} |"
            )
        store.close()


if __name__ == "__main__":
    main()
