"""Retrieval quality on a labelled question set: recall@k over the shipped German and English samples.

``suite rag eval`` ingests the sample documents into a throw-away local store and asks each
question as a principal of the samples' ``staff`` group; a question counts as a hit when a
chunk of its expected document is among the first k results.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from suite.auth import Policy, Principal
from suite.config import PolicyRule, Settings
from suite.embeddings import EmbeddingService
from suite.rag.connectors import FolderConnector
from suite.rag.service import RagService

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLES_DIR = DATA_DIR / "samples"
QUESTIONS_FILE = DATA_DIR / "questions.yaml"
EVAL_COLLECTION = "rag-eval"
EVAL_PRINCIPAL = Principal(subject="rag-eval", name="rag eval", auth_method="api_key", groups=frozenset({"staff"}))


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    expected: str
    lang: str


@dataclass
class EvalResult:
    k: int
    hits: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    misses: list[Question] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return sum(self.hits.values()) / max(1, sum(self.totals.values()))

    def recall_of(self, lang: str) -> float:
        return self.hits.get(lang, 0) / max(1, self.totals.get(lang, 0))


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    """The labelled questions of a YAML file (``questions: [{question, expected, lang}]``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [Question.model_validate(item) for item in data.get("questions", [])]


async def evaluate(
    settings: Settings,
    *,
    questions: list[Question],
    samples: Path = SAMPLES_DIR,
    k: int = 5,
    hybrid: bool | None = None,
) -> EvalResult:
    """Ingest samples into a temporary local store and measure recall@k of the questions."""
    with tempfile.TemporaryDirectory(prefix="suite-rag-eval-") as scratch:
        scratch_store = {"engine": "edge", "qdrant_url": None, "edge_path": Path(scratch)}
        rag_settings = settings.rag.model_copy(update=scratch_store)
        if hybrid is not None:
            rag_settings = rag_settings.model_copy(update={"hybrid": hybrid, "collections": {}})
        isolated = settings.model_copy(update={"rag": rag_settings})
        rule = PolicyRule(name="rag-eval", groups=["staff"], routes=["retrieval"], collections=[EVAL_COLLECTION])
        embeddings = EmbeddingService(isolated)
        await embeddings.load()
        rag = RagService(isolated, embeddings, Policy([rule]))
        try:
            await rag.open()
            await rag.create_collection(EVAL_COLLECTION)
            connector = FolderConnector(samples)
            await rag.ingest(EVAL_COLLECTION, list(connector.documents()), scope=connector.scope)
            result = EvalResult(k=k)
            for item in questions:
                found = await rag.retrieve(EVAL_PRINCIPAL, item.question, [EVAL_COLLECTION], top_k=k)
                expected = (connector.root / item.expected).as_uri()
                hit = any(chunk.source_uri == expected for chunk in found.chunks)
                result.totals[item.lang] = result.totals.get(item.lang, 0) + 1
                result.hits[item.lang] = result.hits.get(item.lang, 0) + int(hit)
                if not hit:
                    result.misses.append(item)
            return result
        finally:
            rag.close()
            embeddings.close()
