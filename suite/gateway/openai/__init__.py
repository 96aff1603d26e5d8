"""The OpenAI-compatible API: wire models (protocol) and routes (router)."""

from suite.gateway.openai.router import router

__all__ = ["router"]
