"""Ingest into real Qdrant local mode with the real encoder: incremental, deletions, corrupt files, ACLs."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suite.auth import Principal
from suite.rag import ConfluenceExportConnector, FolderConnector, RagService, ScreenResult
from suite.rag.chunking import Chunker
from suite.rag.documents import SourceDocument
from suite.rag.evaluation import SAMPLES_DIR
from suite.rag.loaders import load
from tests.rag import files

READER = Principal(subject="reader", name="Reader", auth_method="api_key", groups=frozenset({"staff"}))


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "canteen.md").write_text("# Canteen\n\nThe canteen opens at 11:30 and closes at 14:00.\n")
    (root / "parking.txt").write_text("Parking spaces in the basement are assigned by facility management.\n")
    (root / "rates.xlsx").write_bytes(files.xlsx_file())
    (root / ".suite-acl.yaml").write_text("rules:\n  - paths: ['*']\n    groups: [staff]\n")
    return root


async def ingest(rag: RagService, root: Path, collection: str = "kb") -> Any:
    connector = FolderConnector(root)
    return await rag.ingest(collection, list(connector.documents()), scope=connector.scope)


async def texts(rag: RagService, query: str, principal: Principal = READER) -> list[str]:
    return [c.text for c in (await rag.retrieve(principal, query, ["kb"], top_k=10)).chunks]


# One batch, and a batch per chunk: then every batch is stored while the next one is embedded.
@pytest.mark.parametrize("batch", [256, 1], ids=["one-batch", "batch-per-chunk"])
async def test_incremental_reingest_skips_replaces_and_removes(
    make_rag: Callable[..., Any], tmp_path: Path, batch: int
) -> None:
    rag = await make_rag(min_score=-1, ingest_batch=batch)
    await rag.create_collection("kb")
    root = folder(tmp_path)
    first = await ingest(rag, root)
    assert len(first.added) == 3
    assert first.chunks >= 3
    assert (await rag.stats("kb")).chunks == first.chunks  # every batch stored when the run returns

    again = await ingest(rag, root)
    assert (len(again.unchanged), again.added, again.updated, again.chunks) == (3, [], [], 0)

    (root / "canteen.md").write_text("# Canteen\n\nThe canteen now opens at 12:00 sharp.\n")
    (root / "parking.txt").unlink()
    changed = await ingest(rag, root)
    assert [Path(u).name for u in changed.updated] == ["canteen.md"]
    assert [Path(u).name for u in changed.removed] == ["parking.txt"]
    found = await texts(rag, "When does the canteen open?")
    assert any("12:00" in t for t in found)
    assert not any("11:30" in t for t in found), "the old version's chunks must be gone"
    assert not any("basement" in t for t in found), "the deleted file's chunks must be gone"
    stats = await rag.stats("kb")
    assert (stats.documents, stats.vector_size) == (2, 384)


async def test_corrupt_files_are_reported_and_the_run_goes_on(make_rag: Callable[..., Any], tmp_path: Path) -> None:
    rag = await make_rag()
    await rag.create_collection("kb")
    root = folder(tmp_path)
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (root / "empty.docx").write_bytes(b"")
    report = await ingest(rag, root)
    assert set(map(lambda u: Path(u).name, report.failed)) == {"broken.pdf", "empty.docx"}
    assert all(Path(uri).name in reason for uri, reason in report.failed.items())
    assert len(report.added) == 3


async def test_document_without_acl_is_readable_by_no_one_until_granted(
    make_rag: Callable[..., Any], tmp_path: Path
) -> None:
    rag = await make_rag(min_score=-1)
    await rag.create_collection("kb")
    root = tmp_path / "open"
    root.mkdir()
    (root / "memo.md").write_text("# Memo\n\nThe summer party takes place on the roof terrace.\n")
    report = await ingest(rag, root)
    assert len(report.without_acl) == 1
    assert await texts(rag, "Where is the summer party?") == []

    # The admin grants it (a sidecar); only the ACL changes, nothing is embedded again.
    (root / "memo.md.acl.yaml").write_text("groups: [staff]\n")
    granted = await ingest(rag, root)
    assert (len(granted.access_changed), granted.chunks) == (1, 0)
    assert any("roof terrace" in t for t in await texts(rag, "Where is the summer party?"))


async def test_confluence_export(make_rag: Callable[..., Any], tmp_path: Path) -> None:
    archive = tmp_path / "HR.zip"
    page = """<html><head><title>HR : Parental Leave</title></head><body><ol id="breadcrumbs"><li>HR</li></ol>
    <div id="main-content" class="wiki-content group"><h2>Application</h2>
    <p>Parental leave is requested seven weeks in advance in the HR portal.</p></div></body></html>"""
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("HR/index.html", "<html><body><a href='Parental-Leave_98306.html'>Parental Leave</a></body></html>")
        zf.writestr("HR/Parental-Leave_98306.html", page)
        zf.writestr("HR/attachments/98306/98307.csv", "Weeks;Notice\n14;7\n")
        zf.writestr("HR/styles/site.css", "body {}")
    mapping = tmp_path / "acl.yaml"
    mapping.write_text("rules:\n  - paths: ['*']\n    groups: [staff]\n")
    connector = ConfluenceExportConnector(archive, mapping=mapping)
    documents = list(connector.documents())
    assert [(d.uri, d.title) for d in documents] == [
        ("confluence://HR/Parental-Leave_98306.html", "Parental Leave"),
        ("confluence://HR/attachments/98306/98307.csv", "98307.csv"),
    ]
    rag = await make_rag()
    await rag.create_collection("kb")
    await rag.ingest("kb", documents, scope=connector.scope)
    found = (await rag.retrieve(READER, "How early must parental leave be requested?", ["kb"])).chunks
    assert found[0].source_uri == "confluence://HR/Parental-Leave_98306.html"
    assert (found[0].title, found[0].section) == ("Parental Leave", "Application")


def test_chunks_follow_structure_and_token_budget(embeddings: Any, tmp_path: Path) -> None:
    chunker = Chunker(embeddings.tokenizer("all-minilm-l6-v2"), size=40, overlap=8)
    long = " ".join(f"Sentence number {i} about the travel policy." for i in range(30))
    text = f"# Policy\n\n## Travel\n\n{long}\n\n## Rates\n\n| Item | Limit |\n|---|---|\n| Hotel | 150 |\n"
    document = SourceDocument(uri="file:///p.md", name="p.md", title="p", read=lambda: b"")
    chunks = chunker.chunks(document, load(document, text.encode()), content_hash="h")
    assert all(chunker.count(c.text) <= 40 + 4 for c in chunks)  # + the few tokens of a word cut at the start
    assert {c.section for c in chunks} == {"Policy > Travel", "Policy > Rates"}
    travel = [c.text for c in chunks if c.section.endswith("Travel")]
    assert len(travel) > 3
    # Windows overlap: each window starts with words the previous one ended with.
    assert travel[1].split()[0] in travel[0].split()[-10:]
    assert [c.text for c in chunks if c.section.endswith("Rates")] == ["Item | Limit\nHotel | 150"]
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_folder_connector_acl_precedence(tmp_path: Path) -> None:
    root = tmp_path / "acl"
    shutil.copytree(SAMPLES_DIR, root)
    (root / "en" / "travel-policy.md.acl.yaml").write_text("users: [alice]\nclassification: confidential\n")
    by_name = {Path(d.uri).name: d for d in FolderConnector(root).documents()}
    assert by_name["budget-plan-2027.md"].acl.groups == {"finance"}
    assert by_name["travel-policy.md"].acl.users == {"alice"}
    assert not by_name["travel-policy.md"].acl.groups
    assert by_name["travel-policy.md"].classification == "confidential"
    assert "staff" in by_name["urlaubsregelung.md"].acl.groups
    assert not any(name.endswith(".yaml") for name in by_name)


async def test_screen_sees_chunks_before_anyone_else(make_rag: Callable[..., Any], tmp_path: Path) -> None:
    rag = await make_rag(min_score=-1)
    await rag.create_collection("kb")
    await ingest(rag, folder(tmp_path))

    class DropCanteen:
        async def screen(self, chunks: list[Any], *, principal: Principal, query: str) -> ScreenResult:
            kept = [c for c in chunks if "canteen" not in c.text.lower()]
            return ScreenResult(kept, [{"check": "test", "dropped": len(chunks) - len(kept)}])

    rag.screen = DropCanteen()
    found = await rag.retrieve(READER, "When does the canteen open?", ["kb"], top_k=10)
    assert found.chunks
    assert not any("canteen" in c.text.lower() for c in found.chunks)
    assert found.verdicts == [{"check": "test", "dropped": 1}]


async def test_hybrid_is_switchable_per_collection(make_rag: Callable[..., Any], tmp_path: Path) -> None:
    rag = await make_rag(collections={"dense": {"hybrid": False}})
    root = folder(tmp_path)
    for name in ("dense", "kb"):
        await rag.create_collection(name)
        await ingest(rag, root, name)
    question = "When does the canteen open?"
    dense = (await rag.retrieve(READER, question, ["dense"])).chunks
    fused = (await rag.retrieve(READER, question, ["kb"])).chunks
    assert dense[0].text == fused[0].text
    assert dense[0].score > 0.4  # a cosine similarity
    assert fused[0].score != dense[0].score  # a reciprocal-rank fusion score, not a cosine
    # Relevance is the best cosine either way (dense only reads it off its own best chunk).
    for asked in (question, "Zebra migration patterns on the Serengeti plains"):
        by_dense = await rag.retrieve(READER, asked, ["dense"])
        by_fusion = await rag.retrieve(READER, asked, ["kb"])
        assert by_dense.relevant == by_fusion.relevant == (asked == question)


async def _ids(rag: RagService, collection: str) -> set[str]:
    ids: set[str] = set()
    offset: Any = None
    while True:
        points, offset = await rag.store.page(collection, offset=offset, limit=256)
        ids |= {p.chunk_id for p in points}
        if offset is None:
            return ids


async def test_an_interrupted_ingest_continues_where_it_stopped(
    make_rag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks and batches: documents span several batches, so the cut leaves one half-stored.
    rag: RagService = await make_rag(min_score=-1, ingest_batch=4, chunk_tokens=48, chunk_overlap_tokens=8)
    connector = FolderConnector(SAMPLES_DIR)
    documents = list(connector.documents())
    for name in ("kb", "reference"):
        await rag.create_collection(name)
    reference = await rag.ingest("reference", documents, scope=connector.scope)
    real_add = rag.store.add_points
    calls = 0

    async def power_cut(name: str, points: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 12:
            raise RuntimeError("power cut")
        await real_add(name, points)

    monkeypatch.setattr(rag.store, "add_points", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        await rag.ingest("kb", documents, scope=connector.scope)
    monkeypatch.setattr(rag.store, "add_points", real_add)
    cut = await rag.stats("kb")
    assert 0 < cut.chunks < reference.chunks

    resumed = await rag.ingest("kb", documents, scope=connector.scope)

    # Complete documents are skipped by their hash; the half-stored one and the rest are written.
    assert resumed.unchanged
    assert resumed.added
    assert len(resumed.unchanged) + len(resumed.added) == len(documents)
    assert resumed.chunks < reference.chunks
    assert (await rag.stats("kb")).chunks == reference.chunks
    assert (await rag.stats("kb")).documents == len(documents)
    assert await _ids(rag, "kb") == await _ids(rag, "reference")
    again = await rag.ingest("kb", documents, scope=connector.scope)
    assert (len(again.unchanged), again.chunks) == (len(documents), 0)


async def test_progress_reports_documents_and_chunks(make_rag: Callable[..., Any]) -> None:
    rag: RagService = await make_rag(ingest_batch=8)
    await rag.create_collection("kb")
    connector = FolderConnector(SAMPLES_DIR)
    documents = list(connector.documents())
    steps: list[Any] = []

    report = await rag.ingest("kb", documents, scope=connector.scope, advance=steps.append)

    assert [s.documents for s in steps] == list(range(1, len(documents) + 1))
    assert {s.total for s in steps} == {len(documents)}
    chunks = [s.chunks for s in steps]
    assert chunks == sorted(chunks)
    assert 0 < chunks[-1] <= report.chunks
    assert steps[-1].chunks_per_s > 0


async def test_optimize_after_ingest_runs_off_the_event_loop_and_only_after_changes(
    make_rag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    rag: RagService = await make_rag()
    await rag.create_collection("kb")
    connector = FolderConnector(SAMPLES_DIR)
    documents = list(connector.documents())
    threads: list[str] = []
    real_optimize = rag.store.backend.optimize

    def optimize(name: str) -> bool:
        threads.append(threading.current_thread().name)
        return real_optimize(name)

    monkeypatch.setattr(rag.store.backend, "optimize", optimize)
    await rag.ingest("kb", documents, scope=connector.scope)  # optimize defaults to off (the gateway's case)
    assert threads == []
    await rag.delete_collection("kb")
    await rag.create_collection("kb")

    report = await rag.ingest("kb", documents, scope=connector.scope, optimize=True)
    unchanged = await rag.ingest("kb", documents, scope=connector.scope, optimize=True)

    assert threads
    assert threads[0] != threading.main_thread().name
    assert len(threads) == 1  # the unchanged run built nothing
    assert report.summary()["optimize_seconds"] >= 0
    assert not unchanged.optimized
    assert (await rag.retrieve(READER, "vacation days", ["kb"])).chunks
