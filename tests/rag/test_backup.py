"""Migration from local mode, snapshot and verified restore, through the CLI an admin runs, ACLs intact."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from suite.auth import Principal
from suite.cli import app
from suite.rag import FolderConnector
from suite.rag.backup import FORMAT
from suite.rag.evaluation import SAMPLES_DIR

runner = CliRunner()
BOB = Principal(subject="bob", name="Bob", auth_method="api_key", groups=frozenset({"staff"}))
ALICE = Principal(subject="alice", name="Alice", auth_method="api_key", groups=frozenset({"staff", "finance"}))


def suite(*args: str) -> tuple[int, str]:
    """Exit code and output of a CLI command (run the async tests' calls on a thread: it has its own loop)."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


async def titles(rag: Any, who: Principal, collection: str) -> set[str]:
    found = await rag.retrieve(who, "What is the total operating budget for 2027?", [collection], top_k=10)
    return {c.title for c in found.chunks}


async def test_migrate_snapshot_restore_keep_chunks_and_acls(make_rag: Any, tmp_path: Path) -> None:
    old = await make_rag(engine="local")
    await old.create_collection("kb")
    docs = FolderConnector(SAMPLES_DIR)
    await old.ingest("kb", list(docs.documents()), scope=docs.scope)
    before = await old.stats("kb")
    old.close()
    config = tmp_path / "suite.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nlogging: {{level: warning}}\nembeddings:\n  models:\n    - name: all-minilm-l6-v2\n"
    )

    code, out = await asyncio.to_thread(suite, "collections", "migrate", "kb", "-c", str(config))
    assert code == 0, out
    assert f"migrated kb: {before.documents} documents, {before.chunks} chunks" in out
    code, out = await asyncio.to_thread(suite, "collections", "migrate", "kb", "-c", str(config))
    assert (code, "exists already" in out) == (1, True)

    snapshot = tmp_path / "backup" / "kb.jsonl.gz"
    code, out = await asyncio.to_thread(
        suite, "collections", "snapshot", "kb", "--out", str(snapshot), "-c", str(config)
    )
    assert code == 0, out
    assert snapshot.is_file()
    assert not snapshot.with_name("kb.jsonl.gz.partial").exists()
    code, out = await asyncio.to_thread(
        suite, "collections", "restore", str(snapshot), "--as", "kb-copy", "-c", str(config)
    )
    assert code == 0, out
    assert f"restored kb-copy: {before.documents} documents, {before.chunks} chunks (verified)" in out
    code, out = await asyncio.to_thread(suite, "collections", "optimize", "kb-copy", "-c", str(config))
    assert code == 0, out

    rag = await make_rag()  # the default engine: edge, where migrate and restore wrote
    for name in ("kb", "kb-copy"):
        assert (await rag.stats(name)).chunks == before.chunks
        assert "Budget Plan 2027 (confidential)" in await titles(rag, ALICE, name)
        assert "Budget Plan 2027 (confidential)" not in await titles(rag, BOB, name)
    code, out = await asyncio.to_thread(suite, "collections", "list", "-c", str(config))
    assert (code, "in use" in out or "held by" in out) == (1, True)  # the gateway role: one holder
    rag.close()


def test_a_damaged_snapshot_is_refused_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "suite.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nlogging: {{level: warning}}\nembeddings:\n  models:\n    - name: all-minilm-l6-v2\n"
    )
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as out:
        out.write('{"format": "something-else"}\n')
    code, out = suite("collections", "restore", str(bad), "-c", str(config))
    assert code == 1
    assert "is not a collection snapshot" in out
    assert "Traceback" not in out
    code, out = suite("collections", "restore", str(tmp_path / "none.gz"), "-c", str(config))
    assert (code, "no such file" in out) == (2, True)


def test_a_restore_that_does_not_verify_says_so_with_exit_status_3(tmp_path: Path) -> None:
    config = tmp_path / "suite.yaml"
    config.write_text(f"data_dir: {tmp_path}\nlogging: {{level: warning}}\n")
    truncated = tmp_path / "truncated.jsonl.gz"
    header = {"format": FORMAT, "collection": "kb", "vector_size": 4, "chunks": 2, "documents": 1}
    point = {
        "id": "00000000-0000-0000-0000-000000000001",
        "dense": [1.0, 0.0, 0.0, 0.0],
        "sparse": [[1], [1.0]],
        "payload": {"document_id": "d1", "chunk_index": 0, "text": "t", "acl_groups": ["staff"], "acl_users": []},
    }
    with gzip.open(truncated, "wt") as out:  # the header promises two chunks, one arrived
        out.write(json.dumps(header) + "\n" + json.dumps(point) + "\n")

    code, out = suite("collections", "restore", str(truncated), "-c", str(config))

    assert code == 3
    assert "Verification failed: The collection 'kb' holds 1 chunks / 1 documents, its source 2 / 1" in out
    assert "restore again with --replace" in out
    assert "Traceback" not in out
