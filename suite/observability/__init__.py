"""Logging set-up and air-gap enforcement (metrics follow)."""

from suite.observability.airgap import enforce_offline
from suite.observability.logging import configure_logging

__all__ = ["configure_logging", "enforce_offline"]
