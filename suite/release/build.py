"""Building a release bundle from a folder of release files (images, wheelhouse, ansible, runbooks)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.version import Version
from pydantic import BaseModel, ConfigDict, field_validator

from suite.bastion import create_bundle
from suite.registry import Manifest

RELEASE_NAME = "suite-release"
RELEASE_META = "release.json"


class ReleaseMeta(BaseModel):
    """The release's own metadata, signed as a payload file: what it may upgrade from, until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    min_upgrade_from: str
    expires: datetime

    @field_validator("version", "min_upgrade_from")
    @classmethod
    def _pep440(cls, value: str) -> str:
        Version(value)
        return value


def build_release(
    source: Path,
    out: Path,
    *,
    keys: list[Ed25519PrivateKey],
    version: str,
    min_upgrade_from: str,
    creator: str,
    valid_days: int = 90,
) -> Manifest:
    """Sign ``source``'s files plus a release.json into the bundle ``out``; return its manifest.

    ``source`` is left untouched: its files are hard-linked into a temporary folder beside out.
    """
    if (source / RELEASE_META).exists():
        raise ValueError(f"{source / RELEASE_META}: release.json is written by the build, not given")
    meta = ReleaseMeta(
        version=version,
        min_upgrade_from=min_upgrade_from,
        expires=datetime.now(UTC).replace(microsecond=0) + timedelta(days=valid_days),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".release-") as tmp:
        files = Path(tmp) / "files"
        shutil.copytree(source, files, copy_function=_link_or_copy)
        (files / RELEASE_META).write_text(meta.model_dump_json(indent=1), encoding="utf-8")
        return create_bundle(
            files, out, keys=keys, name=RELEASE_NAME, version=version, creator=creator, kind="suite-update"
        )


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
