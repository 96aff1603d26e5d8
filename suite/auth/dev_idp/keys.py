"""The development provider's signing keys, kept on disk so tokens outlive a restart.

``state_dir/keys.json`` holds a JWK set of private RSA keys, newest first. The
newest signs; the older ones stay published in the JWKS so that tokens signed
before a rotation still verify until they expire.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import structlog
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"
KEY_SIZE = 2048
# The current key and two predecessors: longer than any token lives between two rotations.
KEYS_KEPT = 3
KEYS_FILE = "keys.json"

log = structlog.get_logger(__name__)


class DevIdpStateError(Exception):
    """The provider's state directory holds something it cannot use; the message names the file."""


class DevIdpKeys:
    """RSA signing keys with ``kid``s, persisted (mode 0600) in ``state_dir/keys.json``.

    The file is the source of truth: a rotation made by another process (the CLI)
    is picked up on the next use, so the running provider publishes the new key.
    """

    def __init__(self, path: Path, keys: list[RSAKey]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self.path = path
        self._keys: tuple[RSAKey, ...] = tuple(keys)
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DevIdpKeys:
        """The keys in ``state_dir``; a first key is generated and saved when there are none."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / KEYS_FILE
        if not path.exists():
            keys = cls(path, [_new_key()])
            keys._save()
            return keys
        stamp = _stamp(path)
        keys = cls(path, _load(path))
        keys._stamp = stamp
        return keys

    @property
    def current(self) -> RSAKey:
        """The private key that signs new tokens."""
        return self._fresh()[0]

    @property
    def current_kid(self) -> str:
        """The ``kid`` of the signing key, as it appears in token headers."""
        return _kid(self.current)

    @property
    def kids(self) -> list[str]:
        """Every published ``kid``, newest first."""
        return [_kid(key) for key in self._fresh()]

    def public_jwks(self) -> dict[str, Any]:
        """The JWK set to publish: public parts only, newest first."""
        return {"keys": [dict(key.as_dict(private=False)) for key in self._fresh()]}

    def verification_keys(self) -> KeySet:
        """The published keys as a joserfc key set, for verifying tokens this provider signed."""
        return KeySet([RSAKey.import_key(key.as_dict(private=False)) for key in self._fresh()])

    def signing_keys(self) -> KeySet:
        """The private keys as a joserfc key set; a signer picks one by the ``kid`` in its header."""
        return KeySet(list(self._fresh()))

    def rotate(self) -> str:
        """Make a new signing key; keep the last few public keys published. Returns the new ``kid``."""
        new_key = _new_key()
        with self._lock:
            self._keys = (new_key, *self._fresh_locked()[: KEYS_KEPT - 1])
            self._save()
        return _kid(new_key)

    def _fresh(self) -> tuple[RSAKey, ...]:
        with self._lock:
            return self._fresh_locked()

    def _fresh_locked(self) -> tuple[RSAKey, ...]:
        try:
            stamp = _stamp(self.path)
        except OSError:
            return self._keys  # the file went away: keep serving what is known
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._keys = tuple(_load(self.path))
            except DevIdpStateError as exc:
                # A broken file must not take the provider down; it keeps the keys it has.
                log.warning("dev_idp.keys_unreadable", error=str(exc))
        return self._keys

    def _save(self) -> None:
        data = {"keys": [dict(key.as_dict(private=True)) for key in self._keys]}
        tmp = self.path.with_suffix(".tmp")
        # Created 0600 from the start: the file holds private keys, so it is never readable by others.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.path)
        self._stamp = _stamp(self.path)


def _stamp(path: Path) -> tuple[int, int]:
    # os.replace gives the file a new inode, so (inode, mtime) changes with every save.
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _new_key() -> RSAKey:
    return RSAKey.generate_key(KEY_SIZE, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)


def _kid(key: RSAKey) -> str:
    kid = key.kid
    assert kid is not None  # every key is made or loaded with a kid
    return kid


def _load(path: Path) -> list[RSAKey]:
    # Never regenerate over a broken file: that would silently invalidate every issued token.
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = [RSAKey.import_key(item) for item in data["keys"]]
    except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
        raise DevIdpStateError(f"{path}: not a usable key file ({exc}); move it away to start with new keys") from exc
    if not keys or not all(key.is_private for key in keys):
        raise DevIdpStateError(f"{path}: needs at least one private RSA key")
    for key in keys:
        key.ensure_kid()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        # It holds private keys; tighten a copy that was made readable by others.
        with contextlib.suppress(OSError):
            path.chmod(0o600)
    return keys
