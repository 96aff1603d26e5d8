"""Ed25519 keys in OpenSSH format and signatures in OpenSSH's SSHSIG format.

SSHSIG (``PROTOCOL.sshsig`` in openssh-portable) is what ``ssh-keygen -Y sign`` writes and
``ssh-keygen -Y verify`` checks, so an admin can check a bundle's manifest with the stock tool
and no suite code. The framing is a few SSH wire strings around an Ed25519 signature over
``"SSHSIG" | namespace | reserved | hash algorithm | H(message)``; cryptography does the
Ed25519 and the key files, this module only frames.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from suite.errors import BundleRefused

# The namespace binds a signature to its purpose: an SSHSIG made for e.g. git commits never
# verifies as a bundle signature.
NAMESPACE = "suite-bundle"
_MAGIC = b"SSHSIG"
_VERSION = 1
_KEY_TYPE = b"ssh-ed25519"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_HASHES = {b"sha512": hashlib.sha512, b"sha256": hashlib.sha256}


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key, with the fingerprint ``ssh-keygen -l`` prints for it."""

    key: Ed25519PublicKey
    comment: str

    @property
    def raw(self) -> bytes:
        """The 32 raw key bytes."""
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` of the SSH key blob, as ``ssh-keygen -l`` shows it."""
        digest = hashlib.sha256(_string(_KEY_TYPE) + _string(self.raw)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def openssh(self) -> str:
        """The one-line ``ssh-ed25519 AAAA... comment`` form."""
        line = self.key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        return f"{line} {self.comment}".rstrip()


def generate_key_pair(out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair: ``out_dir/name`` (private, mode 0600) and ``out_dir/name.pub``.

    Refuses to overwrite an existing key. The private key is in OpenSSH format, so
    ``ssh-keygen -Y sign -f out_dir/name`` can use it too.
    """
    private_path, public_path = out_dir / name, out_dir / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} exists already; keys are never overwritten")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as private_file:
        private_file.write(pem)
    public_path.write_text(PublicKey(key.public_key(), name).openssh() + "\n", encoding="utf-8")
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An unencrypted OpenSSH (or PEM) Ed25519 private key; ValueError naming the file otherwise."""
    try:
        data = path.read_bytes()
        key = (
            serialization.load_ssh_private_key(data, password=None)
            if b"OPENSSH PRIVATE KEY" in data
            else serialization.load_pem_private_key(data, password=None)
        )
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable unencrypted Ed25519 private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> PublicKey:
    """An ``ssh-ed25519 AAAA... comment`` public key file; ValueError naming the file otherwise."""
    try:
        parts = path.read_text(encoding="utf-8").strip().split(maxsplit=2)
        key = serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
    except (OSError, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable OpenSSH public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return PublicKey(key, parts[2] if len(parts) > 2 else path.stem)


def sign(message: bytes, key: Ed25519PrivateKey, *, namespace: str = NAMESPACE) -> str:
    """An armored SSHSIG signature of message, as ``ssh-keygen -Y sign -n namespace`` writes it."""
    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_blob = _string(_KEY_TYPE) + _string(raw_public)
    signature = key.sign(_signed_data(message, namespace.encode(), b"sha512"))
    blob = (
        _MAGIC
        + struct.pack(">I", _VERSION)
        + _string(public_blob)
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(_string(_KEY_TYPE) + _string(signature))
    )
    encoded = base64.b64encode(blob).decode()
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END]) + "\n"


def verify(message: bytes, armored: str, *, namespace: str = NAMESPACE) -> PublicKey:
    """Check an armored SSHSIG signature over message; return the signer's key (trusted or not).

    Raises BundleRefused when the signature is malformed, for another namespace, or does not
    match the message. Whether the signer is trusted is the caller's question.
    """
    try:
        blob = _dearmor(armored)
        reader = _Reader(blob)
        if reader.take(6) != _MAGIC or reader.uint32() != _VERSION:
            raise ValueError("not an SSHSIG version 1 signature")
        public_reader = _Reader(reader.string())
        signed_namespace, _reserved, hash_name = reader.string(), reader.string(), reader.string()
        signature_reader = _Reader(reader.string())
        if public_reader.string() != _KEY_TYPE or signature_reader.string() != _KEY_TYPE:
            raise ValueError("only ssh-ed25519 signatures are accepted")
        public = Ed25519PublicKey.from_public_bytes(public_reader.string())
        signature = signature_reader.string()
    except (ValueError, struct.error) as exc:
        raise BundleRefused(f"malformed signature: {exc}") from None
    signer = PublicKey(public, "")
    if signed_namespace != namespace.encode():
        raise BundleRefused(f"signature by {signer.fingerprint} is for namespace {signed_namespace!r}, not {namespace}")
    if hash_name not in _HASHES:
        raise BundleRefused(f"signature by {signer.fingerprint} uses unknown hash {hash_name!r}")
    try:
        public.verify(signature, _signed_data(message, signed_namespace, hash_name))
    except InvalidSignature:
        raise BundleRefused(
            f"signature by {signer.fingerprint} does not match the manifest (the manifest was changed)"
        ) from None
    return signer


def _signed_data(message: bytes, namespace: bytes, hash_name: bytes) -> bytes:
    digest = _HASHES[hash_name](message).digest()
    return _MAGIC + _string(namespace) + _string(b"") + _string(hash_name) + _string(digest)


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _dearmor(armored: str) -> bytes:
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise ValueError("not an armored SSH signature")
    return base64.b64decode("".join(lines[1:-1]), validate=True)


class _Reader:
    """Reads SSH wire-format fields from a byte string, refusing truncation."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise ValueError("truncated signature")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())
