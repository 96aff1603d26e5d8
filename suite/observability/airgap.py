"""Keep libraries from reaching beyond the machine."""

from __future__ import annotations

import os

# Hub access and telemetry are off in this process and every engine it starts, whatever the operator's environment says.
OFFLINE_ENV = {
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}


def enforce_offline() -> None:
    """Switch hub access and telemetry off for this process and its children.

    Called before transformers or sentence-transformers are imported, since they read
    these variables at import time.
    """
    os.environ.update(OFFLINE_ENV)
