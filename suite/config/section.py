"""The base of every settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_unique(names: list[str], where: str) -> None:
    """Raise ValueError when a name appears twice in names (where: the settings key, for the message)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where}: the name or alias {name!r} is used twice")
        seen.add(name)
