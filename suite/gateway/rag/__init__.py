"""The RAG API (``/v1/retrieve``, ``/v1/admin/collections``) and the glue for chat with retrieval."""

from suite.gateway.rag.admin import router as admin_router
from suite.gateway.rag.chat import GroundedChat, Grounding, RagTarget, rag_target
from suite.gateway.rag.router import router

__all__ = ["GroundedChat", "Grounding", "RagTarget", "admin_router", "rag_target", "router"]
