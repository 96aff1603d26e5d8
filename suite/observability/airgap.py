"""Keep libraries from reaching beyond the machine."""

from __future__ import annotations

import os

from suite.serving.engine import OFFLINE_ENV


def enforce_offline() -> None:
    """Switch hub access and telemetry off for this process and its children.

    Called before transformers or sentence-transformers are imported, since they read
    these variables at import time.
    """
    os.environ.update(OFFLINE_ENV)
