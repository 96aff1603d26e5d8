"""The optional cross-encoder reranking stage, with a tiny cross-encoder built here.

No reranker weights are obtainable on these machines, so the test builds a one-layer BERT
sequence classifier (one output: a relevance score) with a fixed seed and all-MiniLM-L6-v2's
own tokenizer, saved in the layout of an imported model, and loads it through
sentence-transformers' ``CrossEncoder`` like a real one. The scores mean nothing; the test
checks the stage: which candidates it sees, that its order and scores are the model's, and that
a chunk the caller may not read never reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suite.auth import Policy, Principal
from suite.config import RerankSettings
from suite.embeddings import bundled_minilm_dir
from suite.rag import FolderConnector, RagService
from suite.rag.evaluation import SAMPLES_DIR
from suite.rag.rerank import Reranker
from suite.rag.retrieval import Retriever
from tests.rag.conftest import SEARCH_ALL
from tests.support import save_tiny_bert_classifier

STAFF = Principal(subject="bob", name="Bob", auth_method="api_key", groups=frozenset({"staff"}))
QUESTION = "How many days of vacation do employees get?"


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_dir()), local_files_only=True)
    return save_tiny_bert_classifier(tmp_path_factory.mktemp("cross-encoder-tiny"), tokenizer, seed=20)


async def samples_rag(make_rag: Callable[..., Any], model: Path, *, candidates: int) -> RagService:
    rag: RagService = await make_rag(min_score=-1, rerank={"model_dir": model, "candidates": candidates})
    await rag.create_collection("kb")
    connector = FolderConnector(SAMPLES_DIR)
    await rag.ingest("kb", list(connector.documents()), scope=connector.scope)
    return rag


async def test_the_reranker_picks_top_k_of_the_candidates_by_its_own_scores(
    make_rag: Callable[..., Any], tiny_cross_encoder: Path
) -> None:
    rag = await samples_rag(make_rag, tiny_cross_encoder, candidates=12)
    # The same store without the stage: the candidates the reranker is given, in the engine's order.
    plain = Retriever(
        rag.settings.rag.model_copy(update={"rerank": RerankSettings()}), rag.store, rag.encoder, Policy([SEARCH_ALL])
    )
    candidates = (await plain.retrieve(STAFF, QUESTION, ["kb"], top_k=12)).chunks
    assert len(candidates) == 12
    own = Reranker(tiny_cross_encoder, RerankSettings())
    await own.load()
    expected = await own.rerank(QUESTION, candidates, limit=3)
    own.close()

    found = (await rag.retrieve(STAFF, QUESTION, ["kb"], top_k=3)).chunks

    assert [(c.chunk_id, round(c.score, 5)) for c in found] == [(c.chunk_id, round(c.score, 5)) for c in expected]
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    # It reorders: (for this seed) not the engine's first three, and one from beyond them.
    assert [c.chunk_id for c in found] != [c.chunk_id for c in candidates[:3]]
    assert {c.chunk_id for c in found} - {c.chunk_id for c in candidates[:3]}


async def test_the_reranker_sees_only_readable_chunks(make_rag: Callable[..., Any], tiny_cross_encoder: Path) -> None:
    rag = await samples_rag(make_rag, tiny_cross_encoder, candidates=50)

    found = (await rag.retrieve(STAFF, "Budget plan 2027 operating budget million euros", ["kb"], top_k=50)).chunks

    assert found
    assert all("finance/" not in c.source_uri for c in found)  # the finance ACL holds before the stage


def test_a_missing_model_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"rag\.rerank\.model_dir"):
        Reranker(tmp_path / "nothing", RerankSettings())
