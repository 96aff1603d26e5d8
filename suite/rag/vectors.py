"""A question or chunk as vectors: dense from the embedding model, sparse term frequencies from its tokenizer.

The sparse vector holds a saturated term frequency per token id (1 + ln tf); the collection's
sparse vector is configured with Qdrant's IDF modifier, so Qdrant supplies the inverse document
frequency at query time and the pair scores like BM25 without a second model.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from suite.embeddings import EmbeddingService


@dataclass(frozen=True)
class TermVector:
    indices: list[int]
    values: list[float]


class TextEncoder:
    """The RAG embedding model (rag.embedding_model) of an EmbeddingService, plus term vectors."""

    def __init__(self, embeddings: EmbeddingService, model: str) -> None:
        self._embeddings = embeddings
        self.model = model

    @property
    def tokenizer(self) -> Any:
        return self._embeddings.tokenizer(self.model)

    async def dense(self, texts: list[str], *, kind: Literal["query", "passage"]) -> list[list[float]]:
        """Normalised embeddings, computed on the embedding service's worker."""
        return await self._embeddings.encode(self.model, texts, kind=kind)

    async def size(self) -> int:
        """The dense vector size (the model's embedding dimension)."""
        return len((await self.dense(["size probe"], kind="passage"))[0])

    async def sparse(self, texts: list[str]) -> list[TermVector]:
        """Term vectors over the tokenizer's ids (special tokens left out), tokenised on the embedding pool."""
        return await self._embeddings.run(self._term_vectors, texts)

    def _term_vectors(self, texts: list[str]) -> list[TermVector]:
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        vectors = []
        for token_ids in ids:
            counts = Counter(token_ids)
            indices = sorted(counts)
            vectors.append(TermVector(indices, [1.0 + math.log(counts[i]) for i in indices]))
        return vectors
