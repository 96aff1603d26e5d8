"""Embedding models (sentence-transformers) from local directories, off the event loop."""

from suite.embeddings.service import EmbeddingResult, EmbeddingService, bundled_minilm_dir

__all__ = ["EmbeddingResult", "EmbeddingService", "bundled_minilm_dir"]
