"""`suite-bastion`: offline model import through the bastion host.

Signed bundles (Ed25519, OpenSSH SSHSIG signatures that ``ssh-keygen -Y verify`` checks too),
streaming verification with flat memory, atomic import into the model store with weight-format
and code refusals. An import registers the version in the model registry (``suite.registry``),
which also owns the manifest format.

Names are imported on first use (PEP 562), so that `suite-bastion --help` loads neither the
database nor the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.bastion.bundle import add_signature, create_bundle
    from suite.bastion.importer import import_bundle, verify_for_install
    from suite.bastion.parts import join_parts, parse_size, split_bundle
    from suite.bastion.signing import NAMESPACE, PublicKey, generate_key_pair, load_private_key, load_public_key
    from suite.bastion.store import ModelStore
    from suite.bastion.verify import TrustPolicy, VerifiedBundle, verify_bundle

_WHERE = {
    "add_signature": "bundle",
    "create_bundle": "bundle",
    "import_bundle": "importer",
    "verify_for_install": "importer",
    "join_parts": "parts",
    "parse_size": "parts",
    "split_bundle": "parts",
    "NAMESPACE": "signing",
    "PublicKey": "signing",
    "generate_key_pair": "signing",
    "load_private_key": "signing",
    "load_public_key": "signing",
    "ModelStore": "store",
    "TrustPolicy": "verify",
    "VerifiedBundle": "verify",
    "verify_bundle": "verify",
}

__all__ = [
    "NAMESPACE",
    "ModelStore",
    "PublicKey",
    "TrustPolicy",
    "VerifiedBundle",
    "add_signature",
    "create_bundle",
    "generate_key_pair",
    "import_bundle",
    "join_parts",
    "load_private_key",
    "load_public_key",
    "parse_size",
    "split_bundle",
    "verify_bundle",
    "verify_for_install",
]


__getattr__ = lazy_names(__name__, _WHERE)
