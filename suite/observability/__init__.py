"""Logging set-up and air-gap enforcement (metrics follow)."""

from suite.observability.airgap import OFFLINE_ENV, enforce_offline
from suite.observability.logging import configure_logging

__all__ = ["OFFLINE_ENV", "configure_logging", "enforce_offline"]
