"""The RAG API (``/v1/retrieve``) and the glue for chat with retrieval."""

from suite.gateway.rag.chat import GroundedChat, RagTarget, rag_target
from suite.gateway.rag.router import router

__all__ = ["GroundedChat", "RagTarget", "rag_target", "router"]
