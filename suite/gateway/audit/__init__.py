"""The audit trail's API for compliance officers: search, show, export."""

from suite.gateway.audit.router import router

__all__ = ["router"]
