"""The guardrails' HTTP route: ``POST /v1/guardrails/check``."""

from suite.gateway.guardrails.router import router

__all__ = ["router"]
