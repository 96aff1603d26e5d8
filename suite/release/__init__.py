"""`suite-release`: the signed offline release bundle, its fail-closed install and rollback.

A release is a bastion bundle of kind ``suite-update`` (the same SSHSIG k-of-n signatures,
streaming verification and tar layout as model bundles) whose payload holds ``release.json``
(version, ``min_upgrade_from``, expiry), the images as OCI archives, the wheelhouse, the
Ansible tree and the runbooks. Installing verifies everything before a byte lands in the
release root, checks free disk space first, refuses downgrades, replays, expired and
too-old-to-upgrade-from releases, unpacks into ``releases/<version>`` and switches the
``current`` link atomically; ``previous`` keeps the one before, so rollback is a link switch.
"""

from suite.release.build import RELEASE_META, ReleaseMeta, build_release
from suite.release.install import InstalledRelease, install_release, rollback, verify_release

__all__ = [
    "RELEASE_META",
    "InstalledRelease",
    "ReleaseMeta",
    "build_release",
    "install_release",
    "rollback",
    "verify_release",
]
