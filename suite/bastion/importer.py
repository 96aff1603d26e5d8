"""Importing a bundle: verify, unpack into the model store in one pass, register.

The payload is hashed while it is written into a temporary directory inside the store, so
the bundle is read once; only when every byte matched, the weights look like what their
names say and the configs ask for no code, the directory is renamed into place and the
version registered. A refusal is audited and leaves the store as it was.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from packaging.version import Version

from suite.bastion.formats import check_model_config, check_model_manifest, check_weight_header
from suite.bastion.store import ModelStore
from suite.bastion.verify import PayloadWriter, TrustPolicy, VerifiedBundle, verify_bundle
from suite.errors import BundleRefused, SuiteError
from suite.registry import FileEntry, Manifest, ModelRegistry, ModelVersion, discard_directory

_WEIGHT_SUFFIXES = (".safetensors", ".gguf")


def check_downgrade(manifest: Manifest, installed: list[str], *, allow_downgrade: bool) -> None:
    """Refuse a version that is registered already, or older than the newest installed (a rollback attack)."""
    if manifest.version in installed:
        raise BundleRefused(f"{manifest.name} {manifest.version} is imported already")
    newest = max((Version(v) for v in installed), default=None)
    if newest is not None and manifest.parsed_version < newest and not allow_downgrade:
        raise BundleRefused(
            f"{manifest.name} {manifest.version} is older than the installed {newest} "
            "(a rollback attack?); pass --allow-downgrade if this is intended"
        )


def verify_for_install(
    bundle: Path, policy: TrustPolicy, registry: ModelRegistry | None, *, allow_downgrade: bool
) -> VerifiedBundle:
    """Verify without writing anything, including the downgrade check against the registry (if given)."""

    def before_payload(manifest: Manifest) -> None:
        if registry is not None:
            installed = [v.version for v in registry.versions(manifest.name)]
            check_downgrade(manifest, installed, allow_downgrade=allow_downgrade)

    return verify_bundle(bundle, policy, before_payload=before_payload)


def import_bundle(
    bundle: Path,
    *,
    policy: TrustPolicy,
    store: ModelStore,
    registry: ModelRegistry,
    actor: str,
    allow_downgrade: bool = False,
) -> ModelVersion:
    """Verify bundle, unpack it into the store atomically and register it (state ``imported``).

    Raises BundleRefused (or RegistryConflict) naming the problem; the refusal is audited.
    """
    try:
        return _import(bundle, policy, store, registry, actor, allow_downgrade=allow_downgrade)
    except SuiteError as exc:
        if registry.trail is not None:
            from suite.audit import AuditEvent

            event = AuditEvent(
                event_class="admin",
                action="models.import",
                subject=actor,
                auth_method=registry.auth_method,
                status="error",
                details={"bundle": bundle.name, "error": exc.message},
            )
            registry.trail.record_sync(event)
        raise


def _import(
    bundle: Path, policy: TrustPolicy, store: ModelStore, registry: ModelRegistry, actor: str, *, allow_downgrade: bool
) -> ModelVersion:
    def before_payload(manifest: Manifest) -> None:
        check_model_manifest(manifest)
        installed = [v.version for v in registry.versions(manifest.name)]
        check_downgrade(manifest, installed, allow_downgrade=allow_downgrade)
        if store.version_dir(manifest.name, manifest.version).exists():
            raise BundleRefused(f"{store.version_dir(manifest.name, manifest.version)} exists already in the store")

    with store.staging() as staging:

        def sink(entry: FileEntry) -> PayloadWriter:
            writer = store.writer(staging, entry)
            return _HeaderChecked(entry.path, writer) if entry.path.endswith(_WEIGHT_SUFFIXES) else writer

        verified = verify_bundle(bundle, policy, before_payload=before_payload, sink=sink)
        check_model_config(staging)
        manifest = verified.manifest
        path = store.install(staging, manifest.name, manifest.version)
    try:
        return registry.register(
            manifest,
            path=path.resolve(),
            manifest_sha256=verified.manifest_sha256,
            signers=list(verified.signers),
            actor=actor,
            bundle=bundle.name,
        )
    except BaseException:
        discard_directory(path)
        raise


class _HeaderChecked:
    """Checks a weight file's first bytes against its name before passing anything on."""

    def __init__(self, path: str, writer: PayloadWriter) -> None:
        self._path, self._writer, self._checked = path, writer, False

    def write(self, data: bytes, /) -> int:
        if not self._checked:
            check_weight_header(PurePosixPath(self._path).name, data)
            self._checked = True
        return self._writer.write(data)

    def close(self) -> None:
        self._writer.close()
