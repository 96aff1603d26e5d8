"""Verifying a bundle: signatures first, then every payload member streamed against the manifest.

The tar is read front to back once, member by member, in fixed-size blocks, so memory
stays flat whatever the bundle's size (tarfile's regular read mode on the seekable file: its
stream mode ``r|`` does the same walk, but its buffer joins halve the throughput). Nothing
is written unless the caller hands in a sink (the import, which writes into a temporary
directory and discards it on refusal).
Every refusal is a ``BundleRefused`` whose message names the problem.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from suite.bastion.bundle import MANIFEST_NAME, PAYLOAD_DIR, SIGNATURE_DIR
from suite.bastion.signing import PublicKey, verify
from suite.errors import BundleRefused
from suite.registry import HASH_BLOCK, FileEntry, Manifest, check_relative_path, parse_manifest

_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_MAX_SIGNATURE_BYTES = 16 * 1024
_MAX_SIGNATURES = 32


class PayloadWriter(Protocol):
    """Where the bytes of one payload file go while they are checked; verify closes it."""

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


# Opens the destination of one payload file (the import's temporary directory).
FileSink = Callable[[FileEntry], PayloadWriter]
# Runs after the signatures and the manifest passed, before any payload byte is read.
ManifestCheck = Callable[[Manifest], None]


@dataclass(frozen=True)
class TrustPolicy:
    """Whose signatures count, and how many distinct trusted signers a bundle needs (k of n)."""

    keys: tuple[PublicKey, ...]
    required: int = 1


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed: its manifest, the trusted signers' fingerprints, the bytes checked."""

    manifest: Manifest
    manifest_sha256: str
    signers: tuple[str, ...]
    payload_bytes: int


@dataclass
class BundleHead:
    """The manifest and signatures at the front of a bundle, and the member after them."""

    manifest_member: tarfile.TarInfo
    manifest_bytes: bytes
    signatures: list[bytes]
    first_payload: tarfile.TarInfo | None


def verify_bundle(
    path: Path,
    policy: TrustPolicy,
    *,
    before_payload: ManifestCheck | None = None,
    sink: FileSink | None = None,
) -> VerifiedBundle:
    """Check path completely; return what it holds or raise BundleRefused naming the problem."""
    try:
        with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
            head = read_head(tar)
            signers = check_signatures(head.manifest_bytes, head.signatures, policy)
            manifest = parse_manifest(head.manifest_bytes)
            if before_payload is not None:
                before_payload(manifest)
            payload_bytes = _check_payload(tar, head.first_payload, manifest, sink)
    except (tarfile.TarError, EOFError) as exc:
        raise BundleRefused(f"{path.name} is truncated or not a bundle tar: {exc}") from None
    except FileNotFoundError:
        raise BundleRefused(f"{path} does not exist") from None
    return VerifiedBundle(
        manifest=manifest,
        manifest_sha256=hashlib.sha256(head.manifest_bytes).hexdigest(),
        signers=tuple(signers),
        payload_bytes=payload_bytes,
    )


def read_head(tar: tarfile.TarFile) -> BundleHead:
    """Read ``manifest.json`` (the first member) and the ``signatures/*.sig`` after it."""
    member = tar.next()
    if member is None or member.name != MANIFEST_NAME:
        raise BundleRefused(f"the first member must be {MANIFEST_NAME}, found {member.name if member else 'nothing'}")
    manifest_member = member
    manifest_bytes = _read_small(tar, member, _MAX_MANIFEST_BYTES)
    signatures: list[bytes] = []
    member = tar.next()
    while member is not None and member.name.startswith(SIGNATURE_DIR):
        if len(signatures) == _MAX_SIGNATURES:
            raise BundleRefused(f"more than {_MAX_SIGNATURES} signatures")
        signatures.append(_read_small(tar, member, _MAX_SIGNATURE_BYTES))
        member = tar.next()
    return BundleHead(manifest_member, manifest_bytes, signatures, member)


def check_signatures(manifest_bytes: bytes, signatures: list[bytes], policy: TrustPolicy) -> list[str]:
    """Fingerprints of the distinct trusted signers; BundleRefused unless there are ``policy.required``.

    Any signature that does not verify refuses the bundle (it is evidence of tampering); a valid
    signature from an untrusted key does not count, and is named when too few trusted ones remain.
    """
    if not policy.keys:
        raise BundleRefused("no trusted keys: pass --trusted-keys or set bastion.trusted_keys")
    if not signatures:
        raise BundleRefused("the bundle is not signed")
    trusted = {key.raw: key for key in policy.keys}
    signers: list[str] = []
    untrusted: list[str] = []
    for signature in signatures:
        try:
            text = signature.decode("ascii")
        except UnicodeDecodeError:
            raise BundleRefused("malformed signature: not ASCII armor") from None
        signer = verify(manifest_bytes, text)
        if signer.raw not in trusted:
            untrusted.append(signer.fingerprint)
        elif signer.fingerprint not in signers:
            signers.append(signer.fingerprint)
    if len(signers) < policy.required:
        if untrusted:
            raise BundleRefused(f"signed by an untrusted key: {', '.join(untrusted)}")
        raise BundleRefused(
            f"needs signatures from {policy.required} trusted keys, has {len(signers)} ({', '.join(signers)})"
        )
    return signers


def _check_payload(
    tar: tarfile.TarFile, member: tarfile.TarInfo | None, manifest: Manifest, sink: FileSink | None
) -> int:
    expected = {entry.path: entry for entry in manifest.files}
    seen: set[str] = set()
    total = 0
    while member is not None:
        entry = _expected_entry(member, expected, seen)
        total += _check_file(tar, member, entry, sink)
        seen.add(entry.path)
        member = tar.next()
    missing = sorted(set(expected) - seen)
    if missing:
        raise BundleRefused(f"missing from the bundle: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    return total


def _expected_entry(member: tarfile.TarInfo, expected: dict[str, FileEntry], seen: set[str]) -> FileEntry:
    if not member.name.startswith(PAYLOAD_DIR):
        check_relative_path(member.name)
        raise BundleRefused(f"unexpected member outside payload/: {member.name}")
    relative = check_relative_path(member.name[len(PAYLOAD_DIR) :])
    if member.issym():
        raise BundleRefused(f"symbolic link in bundle: {relative} -> {member.linkname}")
    if member.islnk():
        raise BundleRefused(f"hard link in bundle: {relative} -> {member.linkname}")
    if member.ischr() or member.isblk():
        raise BundleRefused(f"device file in bundle: {relative}")
    if member.isfifo():
        raise BundleRefused(f"FIFO in bundle: {relative}")
    if not member.isreg() or member.issparse():
        raise BundleRefused(f"not a regular file: {relative}")
    if relative in seen:
        raise BundleRefused(f"file appears twice in the bundle: {relative}")
    entry = expected.get(relative)
    if entry is None:
        raise BundleRefused(f"extra file not in the manifest: {relative}")
    if member.size != entry.size:
        raise BundleRefused(f"size of {relative} differs from the manifest ({member.size} != {entry.size} bytes)")
    return entry


def _check_file(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry, sink: FileSink | None) -> int:
    source = tar.extractfile(member)
    assert source is not None  # a regular file, checked above
    digest, size = hashlib.sha256(), 0
    dest = sink(entry) if sink is not None else None
    try:
        while block := source.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
            if dest is not None:
                dest.write(block)
    finally:
        if dest is not None:
            dest.close()
    if size != entry.size:
        raise BundleRefused(f"{entry.path} is truncated ({size} of {entry.size} bytes)")
    if digest.hexdigest() != entry.sha256:
        raise BundleRefused(f"{entry.path} was changed: its SHA-256 does not match the manifest")
    return size


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if not member.isreg() or member.issparse():
        raise BundleRefused(f"{member.name} is not a regular file")
    if member.size > limit:
        raise BundleRefused(f"{member.name} is implausibly large ({member.size} bytes)")
    source = tar.extractfile(member)
    assert source is not None
    return source.read()
