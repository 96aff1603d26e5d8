"""The model registry: every imported model version, its state, promotion and rollback.

Below both the gateway (whose engines serve the version the registry promotes) and the
bastion (whose import registers versions): neither reaches into the other for it. The
registry owns what it records of a version: the signed manifest (``Manifest``, the bundle
format the bastion and the release tool write and read) and the version's directory.
"""

from suite.registry.directories import discard_directory
from suite.registry.manifest import (
    HASH_BLOCK,
    BundleKind,
    FileEntry,
    Manifest,
    WeightFormat,
    check_relative_path,
    hash_file,
    parse_manifest,
)
from suite.registry.registry import ModelRegistry, ModelState, ModelVersion, Promotion

__all__ = [
    "HASH_BLOCK",
    "BundleKind",
    "FileEntry",
    "Manifest",
    "ModelRegistry",
    "ModelState",
    "ModelVersion",
    "Promotion",
    "WeightFormat",
    "check_relative_path",
    "discard_directory",
    "hash_file",
    "parse_manifest",
]
