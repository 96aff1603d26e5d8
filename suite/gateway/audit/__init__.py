"""The audit trail's API for compliance officers (search, show, export), and the witness routes."""

from suite.gateway.audit.router import router
from suite.gateway.audit.witness import create_witness_app, witness_router

__all__ = ["create_witness_app", "router", "witness_router"]
