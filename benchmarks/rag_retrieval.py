"""RAG retrieval on the embedded engine (Qdrant Edge): latency and recall@10 per ACL selectivity.

Vectors: the shipped sample corpus and the repository's docs/*.md are chunked (64 tokens) and
embedded with the real all-MiniLM-L6-v2; each synthetic point is a random mix of two real chunk
vectors plus Gaussian noise (sigma ``--noise``), normalised (purely random vectors are HNSW's
worst case and understate real embeddings). A point's term vector and text are those of its
first chunk. Each point gets one of 100 ACL groups, so a reader of 1, 10 or 100 groups may read
1 %, 10 % or 100 % of the collection. Queries are further perturbations of real chunk vectors (with that chunk's term
vector). The collection is optimised (HNSW built) before the queries; the build time and the
load average around it are reported.

In process (query already embedded), per selectivity and in alternating order per query:
exact numpy search over the same vectors with the same filter (the recall reference), the
dense HNSW query at each ``--ef`` (hnsw_ef), and the hybrid query (dense and sparse prefetches
fused by RRF in the engine) whose recall@10 is taken against the same hybrid query with exact
dense search.

Over HTTP (``--http N``, after the in-process part, on the same optimised store): ``suite up``
(no chat models, the embedding model, guardrails, audit and quotas as configured by default)
serves the store, and N ``POST /v1/retrieve`` calls per selectivity with real questions of the
sample set measure the whole path, query embedding included, with dev IdP tokens of readers
of 1, 10 and 100 groups.

    .venv/bin/python benchmarks/rag_retrieval.py [--chunks 100000] [--queries 100] [--noise 0.35]
        [--ef 64,128,256] [--http 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from machine import machine_line  # benchmarks/ is on sys.path: run as a script
from qdrant_client import models

from suite.auth.dev_idp import DevIdpKeys, mint_access_token
from suite.config import Settings
from suite.embeddings import EmbeddingService
from suite.observability import enforce_offline
from suite.rag import FolderConnector
from suite.rag.chunking import Chunker
from suite.rag.edge import EdgeBackend
from suite.rag.evaluation import SAMPLES_DIR, load_questions
from suite.rag.loaders import load
from suite.rag.schema import HNSW_EF, CollectionSchema
from suite.rag.store import Point
from suite.rag.vectors import TermVector, TextEncoder

REPO = Path(__file__).resolve().parents[1]
GROUPS = [f"g{n}" for n in range(100)]
SHARES = (1, 10, 100)
COLLECTION = "kb"
HOST = "127.0.0.1"


async def corpus() -> tuple[list[str], np.ndarray, list[TermVector]]:
    """Real chunks (texts, vectors, term vectors): the shipped samples and the repository's own docs."""
    settings = Settings(logging={"level": "warning"}, embeddings={"models": [{"name": "all-minilm-l6-v2"}]})
    embeddings = EmbeddingService(settings)
    await embeddings.load()
    encoder = TextEncoder(embeddings, "all-minilm-l6-v2")
    chunker = Chunker(encoder.tokenizer, size=64, overlap=8)
    # The samples alone are about 40 chunks, too few bases for 100k points: the docs add some 700 of prose.
    documents = [*FolderConnector(SAMPLES_DIR).documents(), *FolderConnector(REPO / "docs").documents()]
    texts = [
        c.text
        for d in documents
        if d.name.endswith(".md")
        for c in chunker.chunks(d, load(d, d.read()), content_hash="")
    ]
    dense = np.array(await encoder.dense(texts, kind="passage"), dtype=np.float32)
    sparse = await encoder.sparse(texts)
    embeddings.close()
    return texts, dense, sparse


def where(groups: list[str]) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="acl_groups", match=models.MatchAny(any=groups))])


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def ms(values: list[float]) -> str:
    return f"{pct(values, 50):.1f} / {pct(values, 95):.1f}"


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.35)
    parser.add_argument("--ef", default="64,128,256", help="hnsw_ef values of the dense sweep")
    parser.add_argument("--http", type=int, default=0, help="POST /v1/retrieve calls per selectivity (0: none)")
    parser.add_argument(
        "--guardrails", choices=["on", "off", "both"], default="on", help="over HTTP: the guardrails (screen) on/off"
    )
    args = parser.parse_args()
    enforce_offline()
    efs = [int(v) for v in args.ef.split(",")]
    rng = np.random.default_rng(7)
    texts, base, terms = asyncio.run(corpus())
    dim = base.shape[1]

    def mix(n: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
        w = rng.random((n, 1), dtype=np.float32)
        v = w * base[a] + (1 - w) * base[b] + rng.normal(0, args.noise / np.sqrt(dim), (n, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True), a

    vectors, origin = mix(args.chunks)
    group_of = np.arange(args.chunks) % len(GROUPS)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(args.chunks)]
    print(f"Machine: {machine_line()}")
    print(f"Real chunks: {len(texts)} of <= 64 tokens; points={args.chunks} dim={dim} noise={args.noise}")
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        edge_dir = Path(scratch) / "edge"
        store = EdgeBackend.open(edge_dir)
        store.create(COLLECTION, CollectionSchema(vector_size=dim))
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
                        "title": f"Synthetic document {i // 20}",
                        "source_uri": f"bench://documents/d{i // 20}",
                        "text": texts[origin[i]],
                    },
                )
                for i in range(lo, min(lo + 1000, args.chunks))
            ]
            store.upsert(COLLECTION, batch)
        upsert_s = time.perf_counter() - started
        print(f"upsert {upsert_s:.1f} s ({args.chunks / upsert_s:,.0f} points/s); before optimize: {load_line()}")
        started = time.perf_counter()
        store.optimize(COLLECTION)
        optimize_s = time.perf_counter() - started
        print(f"optimize (HNSW and payload indexes) {optimize_s:.1f} s; after it: {load_line()}", flush=True)
        in_process(store, args, efs, vectors, ids, group_of, mix, terms)
        store.close()
        for guardrails in {"on": [True], "off": [False], "both": [True, False]}[args.guardrails] if args.http else []:
            over_http(Path(scratch), edge_dir, args.http, guardrails=guardrails)
        print(f"End: {machine_line()}")


def in_process(
    store: EdgeBackend,
    args: argparse.Namespace,
    efs: list[int],
    vectors: np.ndarray,
    ids: list[str],
    group_of: np.ndarray,
    mix: Any,
    terms: list[TermVector],
) -> None:
    queries, qorigin = mix(args.queries)
    dense_rows, hybrid_rows = [], []
    for share in SHARES:
        groups = GROUPS[:share]
        allowed = np.flatnonzero(group_of < share)
        dense_ms: dict[int, list[float]] = {ef: [] for ef in efs}
        recalls: dict[int, list[float]] = {ef: [] for ef in efs}
        exact_ms, hybrid_ms, hybrid_exact_ms, hybrid_recalls = [], [], [], []
        for q, o in zip(queries, qorigin, strict=True):
            sparse = models.SparseVector(indices=terms[o].indices, values=terms[o].values)
            common: dict[str, Any] = {"dense": q.tolist(), "sparse": sparse, "where": where(groups), "limit": 10}
            t = time.perf_counter()
            scores = vectors[allowed] @ q
            top = allowed[np.argpartition(-scores, 10)[:10]]
            exact_ms.append((time.perf_counter() - t) * 1000)
            truth = {ids[i] for i in top}
            for ef in efs:
                store.hnsw_ef = ef
                t = time.perf_counter()
                found, _ = store.search(COLLECTION, hybrid=False, min_score=0.0, **common)
                dense_ms[ef].append((time.perf_counter() - t) * 1000)
                recalls[ef].append(len(truth & {pid for pid, _, _ in found}) / 10)
            store.hnsw_ef = HNSW_EF
            t = time.perf_counter()
            fused, _ = store.search(COLLECTION, hybrid=True, min_score=0.25, **common)
            hybrid_ms.append((time.perf_counter() - t) * 1000)
            store.exact = True
            t = time.perf_counter()
            reference, _ = store.search(COLLECTION, hybrid=True, min_score=0.25, **common)
            hybrid_exact_ms.append((time.perf_counter() - t) * 1000)
            store.exact = False
            wanted = {pid for pid, _, _ in reference}
            hybrid_recalls.append(len(wanted & {pid for pid, _, _ in fused}) / max(1, len(wanted)))
        for ef in efs:
            mark = " (suite)" if ef == HNSW_EF else ""
            dense_rows.append(
                f"| {share} % | {ef}{mark} | {ms(dense_ms[ef])} | {min(recalls[ef]):.1f} "
                f"| **{statistics.mean(recalls[ef]):.3f}** | {ms(exact_ms)} |"
            )
        hybrid_rows.append(
            f"| {share} % | {ms(hybrid_ms)} | {ms(hybrid_exact_ms)} | **{statistics.mean(hybrid_recalls):.3f}** |"
        )
    print(f"\nDense, query embedded ({args.queries} queries per row; {load_line()}):\n")
    print("| readable | hnsw_ef | dense p50 / p95 ms | recall@10 min | recall@10 mean | exact numpy p50 / p95 ms |")
    print("|---|---:|---|---:|---:|---:|")
    print("\n".join(dense_rows))
    print(f"\nHybrid (RRF of filtered dense and sparse prefetches), query embedded, hnsw_ef {HNSW_EF}:\n")
    print("| readable | hybrid p50 / p95 ms | hybrid, exact dense p50 / p95 ms | recall@10 vs exact dense |")
    print("|---|---|---|---:|")
    print("\n".join(hybrid_rows), flush=True)


# ---- over HTTP ----------------------------------------------------------------------------------


def gateway_config(data_dir: Path, edge_dir: Path, port: int, *, guardrails: bool) -> dict[str, Any]:
    """The default settings with the benchmark's store, three dev IdP readers and no chat model."""
    readers = [
        {
            "username": f"reader{share}",
            "password": f"reader{share}",
            "name": f"Reader of {share} groups",
            "email": f"reader{share}@example.org",
            "groups": GROUPS[:share],
            "roles": ["employee"],
        }
        for share in SHARES
    ]
    search = {"name": "readers-search", "roles": ["employee"], "routes": ["retrieval"], "collections": ["*"]}
    unexhaustible = {"requests_per_minute": 10**9, "tokens_per_day": 10**12}
    return {
        "mode": "development",
        "data_dir": str(data_dir),
        "logging": {"level": "warning", "format": "json"},
        "gateway": {"host": HOST, "port": port},
        "serving": {"models": []},
        "embeddings": {"models": [{"name": "all-minilm-l6-v2"}]},
        "identity": {
            "dev_idp": {"enabled": True, "users": readers, "clients": [{"client_id": "suite-cli"}]},
            "policy": [search],
            # Checked and charged on every call, never exhausted.
            "quotas": {"default": unexhaustible},
        },
        "rag": {"edge_path": str(edge_dir)},
        "guardrails": {"enabled": guardrails},
    }


@contextlib.contextmanager
def gateway(config: dict[str, Any], data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    path = data_dir / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    suite = Path(sys.executable).with_name("suite")
    log = (data_dir / "gateway.log").open("wb")
    command = [str(suite), "up", "--config", str(path)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_healthy(process: subprocess.Popen[bytes], url: str, data_dir: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 300:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited: {(data_dir / 'gateway.log').read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200:
                return time.monotonic() - started
        time.sleep(1)
    raise SystemExit("the gateway did not start within 300 s")


def handler_ms(database: Path, subject: str) -> list[float]:
    """The latency each retrieve's audit record carries: from the handler's start to its record (no auth,
    no audit commit, no HTTP), in call order."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        query = "SELECT latency_ms FROM audit_records WHERE action = 'retrieve' AND subject = ? ORDER BY rowid"
        return [float(row[0]) for row in db.execute(query, (subject,))]


def over_http(data_dir: Path, edge_dir: Path, calls: int, *, guardrails: bool) -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = gateway_config(data_dir, edge_dir, port, guardrails=guardrails)
    settings = Settings.model_validate(config)
    questions = [q.question for q in load_questions()]
    url = f"http://{HOST}:{port}"
    with gateway(config, data_dir) as process:
        started_s = wait_healthy(process, url, data_dir)
        keys = DevIdpKeys.load_or_create(data_dir / "dev-idp")
        issuer = settings.oidc_issuer
        assert issuer is not None
        idp = settings.identity.dev_idp
        rows = []
        with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
            for share, user in zip(SHARES, idp.users, strict=True):
                token = mint_access_token(
                    idp, keys, issuer=issuer, audience="suite", user=user, client_id="suite-cli", scope="openid"
                )
                headers = {"authorization": f"Bearer {token}"}
                latencies, found = [], []
                for n in range(calls + 5):
                    body = {"query": questions[n % len(questions)], "collections": [COLLECTION], "top_k": 5}
                    t = time.perf_counter()
                    answer = client.post("/v1/retrieve", json=body, headers=headers)
                    elapsed = (time.perf_counter() - t) * 1000
                    if answer.status_code != 200:
                        raise SystemExit(f"/v1/retrieve answered {answer.status_code}: {answer.text[:500]}")
                    if n >= 5:  # the first calls warm the encoder and the caches
                        latencies.append(elapsed)
                        found.append(len(answer.json()["data"]))
                inside = handler_ms(data_dir / "suite.db", user.username)[5:]
                rows.append(f"| {share} % | {ms(latencies)} | {ms(inside)} | {statistics.mean(found):.1f} |")
    state = "on (retrieved chunks screened, query PII-masked for the audit record)" if guardrails else "off"
    print(f"\nPOST /v1/retrieve over HTTP, query embedding included, guardrails {state}")
    print(f"(gateway up in {started_s:.0f} s; {load_line()}):")
    print(f"\n| readable | client p50 / p95 ms ({calls} calls) | handler p50 / p95 ms | chunks returned (top_k 5) |")
    print("|---|---|---|---:|")
    print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
