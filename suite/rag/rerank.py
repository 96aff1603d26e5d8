"""The optional reranking stage: a cross-encoder scores (question, chunk) pairs after retrieval.

Retrieval (dense + sparse, RRF, the ACL filter inside the query) finds ``rag.rerank.candidates``
chunks; a sentence-transformers ``CrossEncoder`` reads each together with the question and the
best ``top_k`` by its score are kept. It only reorders what the caller may read already: it
never sees other chunks. Relevance (``rag.min_score``) is still decided by the dense score, so
a reranker cannot turn "nothing relevant" into an answer. The model is read from a directory
(``rag.rerank.model_dir``), never fetched, and runs on its own worker thread (CPU).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from suite.config import RerankSettings
from suite.rag.retrieved import RetrievedChunk
from suite.workers import WorkerPool


class Reranker:
    """A cross-encoder over (question, chunk text) pairs; ``load`` before ``rerank``."""

    def __init__(self, model_dir: Path, settings: RerankSettings) -> None:
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"rag.rerank.model_dir: no cross-encoder model directory at {model_dir}")
        self.model_dir = model_dir
        self._settings = settings
        self._model: Any = None
        self._pool = WorkerPool("reranker", 1)

    async def load(self) -> None:
        """Load the model from its directory (on the reranker's thread)."""
        if self._model is None:
            self._model = await self._pool.run(self._load)

    def _load(self) -> Any:
        from sentence_transformers import CrossEncoder

        return CrossEncoder(
            str(self.model_dir), device="cpu", local_files_only=True, max_length=self._settings.max_length
        )

    async def rerank(self, query: str, chunks: list[RetrievedChunk], *, limit: int) -> list[RetrievedChunk]:
        """The best ``limit`` chunks by the cross-encoder's score, which becomes their score."""
        if not chunks:
            return []
        if self._model is None:
            raise RuntimeError("Reranker.load() first")
        scores = await self._pool.run(self._scores, query, [c.text for c in chunks])
        ranked = sorted(zip(scores, range(len(chunks)), chunks, strict=True), key=lambda item: (-item[0], item[1]))
        return [dataclasses.replace(chunk, score=score) for score, _, chunk in ranked[:limit]]

    def _scores(self, query: str, texts: list[str]) -> list[float]:
        pairs = [(query, text) for text in texts]
        found = self._model.predict(pairs, batch_size=self._settings.batch_size, show_progress_bar=False)
        return [float(score) for score in found]

    def close(self) -> None:
        self._pool.close()
