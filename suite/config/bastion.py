"""Bastion settings: the model store and the keys bundles must be signed with."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from suite.config.section import Section


class BastionSettings(Section):
    """Offline model import (`suite-bastion`): the model store, trusted bundle keys, signature policy."""

    # Where imported models are unpacked (absolute, or relative to data_dir): STORE/NAME/VERSION.
    store_dir: Path = Path("models/store")
    # Public keys (OpenSSH .pub files from `suite-bastion keygen`) whose signatures are trusted.
    trusted_keys: list[Path] = Field(default_factory=list)
    # k of k-of-n: signatures from this many distinct trusted keys are needed.
    required_signatures: int = Field(default=1, ge=1)
    # Accept a bundle older than an installed version of the same model (off: rollback attacks).
    allow_downgrade: bool = False
