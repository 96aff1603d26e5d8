"""RAG fixtures: the real all-MiniLM-L6-v2 (loaded once) and RAG services over real Qdrant local mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from suite.auth import Policy
from suite.config import PolicyRule, Settings
from suite.embeddings import EmbeddingService
from suite.rag import RagService

EMBEDDING = {"models": [{"name": "all-minilm-l6-v2", "aliases": ["default-embedding"]}]}
SEARCH_ALL = PolicyRule(
    name="search-all", roles=["employee"], groups=["staff"], routes=["retrieval"], collections=["*"]
)


def rag_settings(data_dir: Path, **rag: Any) -> Settings:
    return Settings(data_dir=data_dir, logging={"level": "warning"}, embeddings=EMBEDDING, rag=rag)


@pytest.fixture(scope="session")
async def embeddings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddingService]:
    service = EmbeddingService(rag_settings(tmp_path_factory.mktemp("embeddings")))
    await service.load()
    yield service
    service.close()


@pytest.fixture
async def make_rag(embeddings: EmbeddingService, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Opens RagServices on a fresh local store (one per test); all closed afterwards."""
    opened: list[RagService] = []

    async def make(*, rules: list[PolicyRule] | None = None, **rag: Any) -> RagService:
        settings = rag_settings(tmp_path, **rag)
        service = RagService(settings, embeddings, Policy(rules if rules is not None else [SEARCH_ALL]))
        await service.open()
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.close()
