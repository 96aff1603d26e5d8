"""Ed25519 keys that sign checkpoints, kept in a directory apart from the database.

``audit-signing-<key id>.key`` (PEM, 0600) and ``.pub`` per key, and ``audit-signing-current``
naming the key new checkpoints are signed with. The key id is the first 16 hex digits of the
SHA-256 of the raw public key. Rotation adds a key and moves the pointer; old public keys stay,
so old checkpoints keep verifying. Someone who can write to the database cannot forge a
checkpoint without this directory, which is why it lives elsewhere (and can be copied offline).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:  # the standalone verifier imports this module without the settings
    from suite.config import AuditSettings

_PREFIX = "audit-signing-"
_CURRENT = "audit-signing-current"

TrustedKeys = dict[str, Ed25519PublicKey]
KEY_RANGES_FORMAT = "suite-audit-key-ranges"


@dataclass(frozen=True)
class KeyRange:
    """When a key signed: from its first checkpoint to its retirement (None: not yet / still current).

    Positions are (seq, time) pairs, compared in signing order (by seq, then time), as verify orders
    checkpoints. Read from the key ranges file an auditor is handed (``suite audit export-keys``).
    """

    key_id: str
    first: tuple[int, str] | None
    retired: tuple[int, str] | None

    def problem(self, seq: int, time: str) -> str | None:
        """None when a checkpoint at (seq, time) lies within the range, else what is wrong."""
        if self.retired is not None and (seq, time) > self.retired:
            at_seq, at_time = self.retired
            return f"is signed by key {self.key_id} after its retirement (seq {at_seq}, {at_time}; key ranges file)"
        if self.first is not None and (seq, time) < self.first:
            at_seq, at_time = self.first
            return f"is signed by key {self.key_id} before its first use (seq {at_seq}, {at_time}; key ranges file)"
        return None


def key_ranges_document(keys: TrustedKeys, ranges: dict[str, KeyRange]) -> dict[str, object]:
    """The key ranges file's content: every public key (PEM) with its range, by key id."""
    entries = []
    for key_id, public_key in sorted(keys.items()):
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        found = ranges.get(key_id, KeyRange(key_id, None, None))
        entry: dict[str, object] = {"key_id": key_id, "public_key": pem.decode("ascii")}
        for name, position in (("first", found.first), ("retired", found.retired)):
            entry[f"{name}_seq"], entry[f"{name}_time"] = position if position else (None, None)
        entries.append(entry)
    return {"format": KEY_RANGES_FORMAT, "version": 1, "keys": entries}


def read_key_ranges(path: Path) -> tuple[TrustedKeys, dict[str, KeyRange]]:
    """The public keys and their ranges from a key ranges file; ValueError naming what is wrong.

    A key whose PEM is not the key its id names is refused, as a replaced ``.pub`` file is.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path}: not a JSON key ranges file") from None
    if not isinstance(document, dict) or document.get("format") != KEY_RANGES_FORMAT:
        raise ValueError(f"{path}: not a key ranges file (suite audit export-keys)")
    keys: TrustedKeys = {}
    ranges: dict[str, KeyRange] = {}
    for number, entry in enumerate(document.get("keys") or [], start=1):
        where = f"{path.name} key {number}"
        try:
            public_key = serialization.load_pem_public_key(str(entry["public_key"]).encode("ascii"))
            first, retired = (_position(entry, name) for name in ("first", "retired"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed ({exc})") from None
        if not isinstance(public_key, Ed25519PublicKey):
            raise ValueError(f"{where}: not an Ed25519 public key")
        key_id = key_id_of(public_key)
        if entry.get("key_id") != key_id:
            raise ValueError(f"{where}: holds the key {key_id}, not {entry.get('key_id')}: the key was replaced")
        keys[key_id] = public_key
        ranges[key_id] = KeyRange(key_id, first, retired)
    if not keys:
        raise ValueError(f"{path}: no keys in it")
    return keys, ranges


def _position(entry: dict[str, object], name: str) -> tuple[int, str] | None:
    seq, time = entry.get(f"{name}_seq"), entry.get(f"{name}_time")
    if seq is None and time is None:
        return None
    if not isinstance(seq, int) or not isinstance(time, str):
        raise ValueError(f"{name}_seq and {name}_time must be a number and a time")
    return seq, time


def key_dir_of(settings: AuditSettings, data_dir: Path) -> Path:
    """The configured key directory, relative paths taken from the data directory."""
    return settings.key_dir if settings.key_dir.is_absolute() else data_dir / settings.key_dir


def checkpoint_dir_of(settings: AuditSettings, data_dir: Path) -> Path:
    """The configured checkpoint file's directory, relative paths taken from the data directory."""
    path = settings.checkpoint_dir
    return path if path.is_absolute() else data_dir / path


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """The private key new checkpoints are signed with."""

    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, message: bytes) -> str:
        """The hex Ed25519 signature of message."""
        return self.private_key.sign(message).hex()


class KeyRing:
    """The signing keys in one directory."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir

    def current(self) -> SigningKey:
        """The current signing key; the first one is created on first use."""
        pointer = self.key_dir / _CURRENT
        if not pointer.exists():
            return self.rotate()
        key_id = pointer.read_text(encoding="ascii").strip()
        pem = (self.key_dir / f"{_PREFIX}{key_id}.key").read_bytes()
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError(f"{self.key_dir}: {key_id} is not an Ed25519 key")
        return SigningKey(key_id, private_key)

    def rotate(self) -> SigningKey:
        """Create a new key and make it current; earlier public keys stay for verification."""
        self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_key = Ed25519PrivateKey.generate()
        key_id = key_id_of(private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Created 0600 from the start: never world-readable, not even for a moment.
        fd = os.open(self.key_dir / f"{_PREFIX}{key_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.key_dir / f"{_PREFIX}{key_id}.pub").write_bytes(public_pem)
        # Replaced atomically, so a concurrent reader sees the old or the new key id, never half.
        staging = self.key_dir / f".{_CURRENT}.{key_id}"
        staging.write_text(key_id + "\n", encoding="ascii")
        staging.replace(self.key_dir / _CURRENT)
        return SigningKey(key_id, private_key)

    def public_keys(self) -> TrustedKeys:
        """Every public key in the directory, by key id."""
        if not self.key_dir.is_dir():
            return {}
        return load_public_keys(sorted(self.key_dir.glob(f"{_PREFIX}*.pub")))


def load_public_keys(paths: Iterable[Path]) -> TrustedKeys:
    """Public keys from PEM files, by key id. Raises ValueError naming a file that is not an Ed25519 key."""
    keys: TrustedKeys = {}
    for path in paths:
        try:
            public_key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError as exc:
            raise ValueError(f"{path}: not a PEM public key ({exc})") from None
        if not isinstance(public_key, Ed25519PublicKey):
            raise ValueError(f"{path}: not an Ed25519 public key")
        key_id = key_id_of(public_key)
        named = path.name.removeprefix(_PREFIX).removesuffix(".pub")
        if path.name.startswith(_PREFIX) and path.name.endswith(".pub") and named != key_id:
            # The name is the key id the writer gave it: other content means someone put another key there.
            raise ValueError(f"{path}: holds the key {key_id}, not {named}: the public key file was replaced")
        keys[key_id] = public_key
    return keys


def checkpoint_message(*, kind: str, seq: int, head_hash: str, time: str) -> bytes:
    """What a checkpoint signs. The kind is covered so a periodic checkpoint cannot pose as a purge anchor."""
    body = {"head_hash": head_hash, "kind": kind, "seq": seq, "time": time}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def export_end_message(end: dict[str, object]) -> bytes:
    """What an export's end line signs (its fields but key_id and signature, with a kind of its own)."""
    body = {**end, "kind": "export_end"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


HEAD_FIELDS = ("seq", "time", "head_hash", "key_id", "signature", "kind")


def witness_message(origin: str, head: dict[str, object], witnessed_at: str) -> bytes:
    """What a witness countersigns: the trail's name, its signed head (signature included) and when it saw it."""
    body = {name: head[name] for name in HEAD_FIELDS} | {"origin": origin, "witnessed_at": witnessed_at}
    return json.dumps(body | {"type": "witness"}, sort_keys=True, separators=(",", ":")).encode()


def signature_problem(trusted: TrustedKeys, *, key_id: str, signature: str, message: bytes) -> str | None:
    """None when a trusted key signed message, else what is wrong."""
    public_key = trusted.get(key_id)
    if public_key is None:
        return f"signed by an untrusted key ({key_id})"
    try:
        public_key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return "signature invalid"
    return None
