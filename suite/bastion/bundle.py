"""Writing bundles: an uncompressed tar of ``manifest.json``, ``signatures/N.sig``, then ``payload/...``.

Uncompressed so verification can stream it with flat memory; the manifest first so its
signatures are checked before a single payload byte is read. Written to a temporary name
and renamed, so a bundle either exists whole or not at all.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from suite.bastion.formats import check_model_manifest, detect_format
from suite.bastion.signing import sign
from suite.registry import HASH_BLOCK, BundleKind, FileEntry, Manifest, WeightFormat, hash_file

MANIFEST_NAME = "manifest.json"
SIGNATURE_DIR = "signatures/"
PAYLOAD_DIR = "payload/"


def collect_files(files_dir: Path) -> list[FileEntry]:
    """Every regular file under files_dir with its size and SHA-256; ValueError on links and special files."""
    if not files_dir.is_dir():
        raise ValueError(f"{files_dir} is not a directory")
    entries = []
    for path in sorted(files_dir.rglob("*")):
        relative = path.relative_to(files_dir).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ValueError(f"{relative}: only regular files can go into a bundle (no links or devices)")
        if path.is_file():
            size, digest = hash_file(path)
            entries.append(FileEntry(path=relative, size=size, sha256=digest))
    return entries


def create_bundle(
    files_dir: Path,
    out: Path,
    *,
    keys: list[Ed25519PrivateKey],
    name: str,
    version: str,
    creator: str,
    kind: BundleKind = "model",
    format: WeightFormat | None = None,
    licence: str = "",
    source: str = "",
    enforce_model_policy: bool = True,
) -> Manifest:
    """Hash files_dir, write and sign its manifest, and write the bundle to out.

    ``format`` is detected for model bundles when not given. With ``enforce_model_policy`` a
    model that the import would refuse (pickle weights, code) is refused here already.
    """
    if not keys:
        raise ValueError("a bundle needs at least one signing key")
    files = collect_files(files_dir)
    if kind == "model" and format is None:
        format = detect_format([entry.path for entry in files])
    manifest = Manifest(
        name=name,
        version=version,
        kind=kind,
        format=format,
        licence=licence,
        source=source,
        created=datetime.now(UTC).replace(microsecond=0),
        creator=creator,
        files=files,
    )
    if kind == "model" and enforce_model_policy:
        check_model_manifest(manifest)
    manifest_bytes = manifest.to_bytes()
    signatures = [sign(manifest_bytes, key).encode() for key in keys]
    write_bundle(out, manifest_bytes, signatures, files_dir, files, mtime=manifest.created.timestamp())
    return manifest


def write_bundle(
    out: Path,
    manifest_bytes: bytes,
    signatures: list[bytes],
    files_dir: Path,
    files: list[FileEntry],
    *,
    mtime: float,
) -> None:
    """Write the tar (temporary name, fsync, rename); ValueError if a file changed since it was hashed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST_NAME, manifest_bytes, mtime)
            for index, signature in enumerate(signatures, start=1):
                _add_bytes(tar, f"{SIGNATURE_DIR}{index}.sig", signature, mtime)
            for entry in files:
                info = _member(PAYLOAD_DIR + entry.path, entry.size, mtime)
                with (files_dir / entry.path).open("rb") as source:
                    reader = _HashingReader(source)
                    tar.addfile(info, reader)
                if reader.digest.hexdigest() != entry.sha256:
                    raise ValueError(f"{entry.path} changed while the bundle was written; create it again")
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def add_signature(bundle: Path, key: Ed25519PrivateKey, out: Path) -> None:
    """Copy a bundle to out with one more signature over its manifest (for k-of-n signing)."""
    from suite.bastion.verify import read_head

    with bundle.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        head = read_head(tar)
        signatures = [*head.signatures, sign(head.manifest_bytes, key).encode()]
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("wb") as dest, tarfile.open(fileobj=dest, mode="w", format=tarfile.PAX_FORMAT) as new:
                mtime = head.manifest_member.mtime
                _add_bytes(new, MANIFEST_NAME, head.manifest_bytes, mtime)
                for index, signature in enumerate(signatures, start=1):
                    _add_bytes(new, f"{SIGNATURE_DIR}{index}.sig", signature, mtime)
                member = head.first_payload
                while member is not None:
                    new.addfile(member, tar.extractfile(member) if member.isreg() else None)
                    member = tar.next()
                new.close()
                os.fsync(dest.fileno())
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    # Owner and mode are fixed, so the same files give the same bundle bytes on any host.
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    tar.addfile(_member(name, len(data), mtime), io.BytesIO(data))


class _HashingReader:
    """A read-only file wrapper that hashes what tarfile copies out of it."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = HASH_BLOCK) -> bytes:
        block = self._source.read(size)
        self.digest.update(block)
        return block
