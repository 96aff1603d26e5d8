"""The model store on disk: ``STORE/NAME/VERSION/`` directories, created atomically.

An import unpacks into ``STORE/.incoming-*`` (same filesystem) and renames it into place
only after every byte matched the manifest, so a model directory is either complete or
absent; a refused import removes its temporary directory and leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from suite.bastion.verify import PayloadWriter
from suite.errors import RegistryConflict
from suite.registry import FileEntry

_INCOMING = ".incoming-"


class ModelStore:
    """The directory tree imported models live in."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def version_dir(self, name: str, version: str) -> Path:
        """Where a model version lies (or will)."""
        return self.root / name / version

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary directory inside the store, removed again unless it was installed."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_INCOMING, dir=self.root))
        try:
            yield staging
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def writer(self, staging: Path, entry: FileEntry) -> PayloadWriter:
        """A new file for one payload entry inside staging (paths were checked against escapes already)."""
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        return _SyncedFile(os.fdopen(fd, "wb"))

    def install(self, staging: Path, name: str, version: str) -> Path:
        """Rename a complete staging directory to ``NAME/VERSION``; RegistryConflict if that exists."""
        final = self.version_dir(name, version)
        if final.exists():
            raise RegistryConflict(f"{final} exists already; remove that version first")
        final.parent.mkdir(parents=True, exist_ok=True)
        # mkdtemp made it 0700; the engines may run as another user and only need to read it.
        staging.chmod(0o755)
        os.rename(staging, final)
        _fsync_dir(final.parent)
        return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _SyncedFile:
    """A file that is fsynced when closed, so a renamed model directory survives a power cut."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def write(self, data: bytes, /) -> int:
        return self._file.write(data)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
