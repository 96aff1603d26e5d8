"""The suite: an air-gapped, on-prem AI appliance (serving, gateway, RAG, guardrails, audit)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
