"""Model version directories as the registry removes them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# A dot name, like the store's .incoming-* staging directories: never a valid model name.
_REMOVING = ".removing-"


def discard_directory(path: Path) -> None:
    """Delete a model version's directory: renamed aside first, so it never looks half there."""
    if not path.exists():
        return
    aside = path.with_name(f"{_REMOVING}{path.name}")
    os.rename(path, aside)
    shutil.rmtree(aside)
