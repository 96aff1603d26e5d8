"""Settings of the web front ends (``web``): chat retention and the texts admins set."""

from __future__ import annotations

from pydantic import Field

from suite.config.section import Section


class WebSettings(Section):
    # Conversations untouched for longer are deleted by a scheduled, audited purge; None keeps them.
    retention_days: int | None = Field(default=None, gt=0)
    # How often the purge runs (seconds).
    purge_interval_s: float = Field(default=3600.0, gt=0)
    # The data-classification banner above every page, per UI language; empty: no banner.
    banner: dict[str, str] = Field(default_factory=dict)
    # Shown once before the first chat (and whenever it changes), per UI language; empty: none.
    first_use_notice: dict[str, str] = Field(default_factory=dict)
