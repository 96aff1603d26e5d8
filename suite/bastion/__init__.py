"""`suite-bastion`: offline model import through the bastion host.

Signed bundles (Ed25519, OpenSSH SSHSIG signatures that ``ssh-keygen -Y verify`` checks too),
streaming verification with flat memory, atomic import into the model store with weight-format
and code refusals. An import registers the version in the model registry (``suite.registry``),
which also owns the manifest format.
"""

from suite.bastion.bundle import add_signature, create_bundle
from suite.bastion.importer import import_bundle, verify_for_install
from suite.bastion.parts import join_parts, parse_size, split_bundle
from suite.bastion.signing import NAMESPACE, PublicKey, generate_key_pair, load_private_key, load_public_key
from suite.bastion.store import ModelStore
from suite.bastion.verify import TrustPolicy, VerifiedBundle, verify_bundle

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
