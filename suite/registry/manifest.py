"""The bundle manifest: what a bundle holds (every file's path, size and SHA-256) and what it is.

The manifest's bytes, exactly as stored in the bundle, are what the signatures cover; the
payload is then trusted only as far as it matches the manifest, file by file.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from suite.errors import BundleRefused

BUNDLE_FORMAT: Literal[1] = 1
# Like serving.models[].name: it becomes a directory name and a model id.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_SAFE_PART = re.compile(r"^[^\x00-\x1f\\/]+$")
BundleKind = Literal["model", "suite-update"]
WeightFormat = Literal["safetensors", "gguf"]
HASH_BLOCK = 1024 * 1024


def check_relative_path(path: str) -> str:
    """A payload path as it must be: relative, POSIX, no ``..``, ``.`` or empty parts, no control characters.

    Raises BundleRefused naming the path otherwise.
    """
    parts = path.split("/")
    if path.startswith("/") or PurePosixPath(path).is_absolute():
        raise BundleRefused(f"absolute path in bundle: {path!r}")
    if ".." in parts:
        raise BundleRefused(f"path escapes the bundle with '..': {path!r}")
    if any(part in ("", ".") or not _SAFE_PART.match(part) for part in parts):
        raise BundleRefused(f"malformed path in bundle: {path!r}")
    return path


class FileEntry(BaseModel):
    """One payload file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """What a bundle is and holds; signed as the exact bytes of ``manifest.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle_format: Literal[1] = BUNDLE_FORMAT
    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    version: str
    kind: BundleKind = "model"
    # The weight format of a model bundle; None for a suite update.
    format: WeightFormat | None = None
    licence: str = ""
    source: str = ""
    created: datetime
    creator: str
    files: list[FileEntry]

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        try:
            Version(value)
        except InvalidVersion:
            raise ValueError(f"version {value!r} is not a PEP 440 version (e.g. 1.0.2)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.kind == "model" and self.format is None:
            raise ValueError("a model bundle needs a format (safetensors or gguf)")
        if not self.files:
            raise ValueError("the bundle holds no files")
        paths = [entry.path for entry in self.files]
        if len(paths) != len(set(paths)):
            raise ValueError("a file is listed twice")
        return self

    @property
    def parsed_version(self) -> Version:
        """The version, for comparisons (1.10 > 1.9)."""
        return Version(self.version)

    @property
    def total_size(self) -> int:
        """Payload bytes."""
        return sum(entry.size for entry in self.files)

    def to_bytes(self) -> bytes:
        """The canonical JSON the signatures cover (sorted keys, UTF-8, newline at the end)."""
        return (json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2) + "\n").encode()


def parse_manifest(data: bytes) -> Manifest:
    """The manifest from its bytes; BundleRefused naming what is wrong (and every path checked)."""
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}" for e in exc.errors())
        raise BundleRefused(f"the manifest does not match the bundle format: {problems}") from None
    for entry in manifest.files:
        check_relative_path(entry.path)
    return manifest


def hash_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in fixed blocks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
