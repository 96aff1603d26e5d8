"""Signing keys: files and modes, key ids, rotation, the key directory apart from the database."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from suite.audit import KeyRing, key_dir_of, load_public_keys
from suite.config import AuditSettings


def test_first_key_is_created_private_and_named_by_its_id(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.current()
    private = tmp_path / "keys" / f"audit-signing-{key.key_id}.key"
    public = tmp_path / "keys" / f"audit-signing-{key.key_id}.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    raw = key.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert list(load_public_keys([public])) == [key.key_id]
    assert ring.current().key_id == key.key_id  # loaded again, not replaced


def test_rotation_keeps_old_public_keys(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    first = ring.current()
    second = ring.rotate()
    assert ring.current().key_id == second.key_id != first.key_id
    assert set(ring.public_keys()) == {first.key_id, second.key_id}


def test_key_dir_relative_to_data_dir(tmp_path: Path) -> None:
    assert key_dir_of(AuditSettings(), tmp_path) == tmp_path / "audit-keys"
    assert key_dir_of(AuditSettings(key_dir=Path("/etc/suite/keys")), tmp_path) == Path("/etc/suite/keys")
