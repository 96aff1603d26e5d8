"""Installing a release: verify everything first (fail-closed), then unpack and switch ``current``.

Layout under the release root: ``releases/<version>/`` (one folder per unpacked release),
``current`` and ``previous`` (symlinks into releases/), ``state.json`` (the highest version
ever installed, so an old release replayed after a rollback is still refused).
Verification runs twice over the bundle: once writing nothing (signatures, sizes, every
SHA-256, the release metadata, the disk space) and once unpacking into a hidden staging folder
that is renamed into place only when the second pass passed too; a refusal leaves no trace.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from packaging.version import Version
from pydantic import ValidationError

from suite.bastion import TrustPolicy, VerifiedBundle, verify_bundle
from suite.errors import BundleRefused
from suite.registry import FileEntry, Manifest
from suite.release.build import RELEASE_META, RELEASE_NAME, ReleaseMeta

# Unpacking needs the payload's size; this much more stays free for the running services.
DISK_MARGIN_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class InstalledRelease:
    """What install or rollback left as current."""

    version: str
    path: Path
    manifest_sha256: str
    signers: tuple[str, ...]


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)

    def close(self) -> None:
        return None


class _Keep(io.BytesIO):
    def close(self) -> None:  # verify closes the writer; keep the bytes readable
        return None


class _File:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("xb")

    def write(self, data: bytes, /) -> int:
        return self._handle.write(data)

    def close(self) -> None:
        self._handle.close()


def installed_versions(root: Path) -> tuple[str | None, str | None]:
    """The current and the highest-ever installed versions (None when nothing was installed)."""
    current = root / "current"
    version = current.resolve().name if current.is_symlink() else None
    state = root / "state.json"
    highest = json.loads(state.read_text(encoding="utf-8"))["highest"] if state.exists() else None
    return version, highest


def verify_release(
    bundle: Path,
    policy: TrustPolicy,
    root: Path,
    *,
    customer: TrustPolicy | None = None,
    margin_bytes: int = DISK_MARGIN_BYTES,
    now: datetime | None = None,
) -> tuple[VerifiedBundle, ReleaseMeta]:
    """Check bundle against the policy and the installed state at root, writing nothing.

    Raises BundleRefused naming the problem: signatures, tampering, truncation, a release that
    is not newer than any installed one, an expired one, one that cannot upgrade the current
    release, or too little disk space for unpacking it. With ``customer``, the bundle also needs
    that many signatures from the customer's own keys (the countersignature), besides the vendor's.
    """
    current, highest = installed_versions(root)
    combined = _combined(policy, customer)

    def before_payload(manifest: Manifest) -> None:
        if manifest.kind != "suite-update" or manifest.name != RELEASE_NAME:
            raise BundleRefused(f"{bundle.name} is a {manifest.kind} bundle named {manifest.name}, not a suite release")
        if highest is not None and Version(manifest.version) <= Version(highest):
            raise BundleRefused(
                f"release {manifest.version} is not newer than {highest}, installed before: "
                "a downgrade or replay is refused (use rollback to return to the previous release)"
            )
        needed = sum(entry.size for entry in manifest.files) + margin_bytes
        root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(root).free
        if free < needed:
            raise BundleRefused(
                f"not enough disk space in {root}: unpacking release {manifest.version} needs "
                f"{needed // 2**20} MiB, {free // 2**20} MiB are free"
            )

    meta_bytes = _Keep()

    def sink(entry: FileEntry) -> _Keep | _Discard:
        return meta_bytes if entry.path == RELEASE_META else _Discard()

    verified = verify_bundle(bundle, combined, before_payload=before_payload, sink=sink)
    _each_party_signed(verified, policy, customer)
    try:
        meta = ReleaseMeta.model_validate_json(meta_bytes.getvalue())
    except ValidationError:
        raise BundleRefused(f"{bundle.name} has no valid {RELEASE_META}") from None
    if meta.version != verified.manifest.version:
        raise BundleRefused(f"{RELEASE_META} says {meta.version}, the signed manifest {verified.manifest.version}")
    if (now or datetime.now(UTC)) > meta.expires:
        raise BundleRefused(f"release {meta.version} expired on {meta.expires.isoformat()}; ask for a fresh one")
    if current is not None and Version(current) < Version(meta.min_upgrade_from):
        raise BundleRefused(
            f"release {meta.version} upgrades from {meta.min_upgrade_from} or later; {current} is installed"
        )
    return verified, meta


def _combined(vendor: TrustPolicy, customer: TrustPolicy | None) -> TrustPolicy:
    """Both parties' keys trusted for the signature check; each party's count is checked after it."""
    if customer is None:
        return vendor
    shared = {key.fingerprint for key in vendor.keys} & {key.fingerprint for key in customer.keys}
    if shared:
        raise BundleRefused(
            f"a customer key is also a release key ({', '.join(sorted(shared))}): one party would sign for both"
        )
    return TrustPolicy(keys=vendor.keys + customer.keys, required=1)


def _each_party_signed(verified: VerifiedBundle, vendor: TrustPolicy, customer: TrustPolicy | None) -> None:
    """Count the vendor's and the customer's signers apart: one party's keys never stand in for the other's."""
    if customer is None:
        return
    for party, wanted in (("release (vendor)", vendor), ("customer", customer)):
        mine = {key.fingerprint for key in wanted.keys}
        have = [signer for signer in verified.signers if signer in mine]
        if len(have) < wanted.required:
            raise BundleRefused(
                f"needs {wanted.required} {party} signatures, has {len(have)}: "
                + ("countersign it with the customer key first" if party == "customer" else "ask for a signed release")
            )


def install_release(
    bundle: Path, policy: TrustPolicy, root: Path, *, customer: TrustPolicy | None = None, **checks: object
) -> InstalledRelease:
    """Verify bundle completely, unpack it into root/releases/<version> and make it current.

    The signed manifest is kept as root/manifests/<version>.json, for ``diff`` and the audit trail.
    """
    verified, meta = verify_release(bundle, policy, root, customer=customer, **checks)  # type: ignore[arg-type]
    releases = root / "releases"
    staging = releases / f".{meta.version}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        again = verify_bundle(
            bundle,
            policy
            if customer is None
            else TrustPolicy(policy.keys + customer.keys, policy.required + customer.required),
            sink=lambda entry: _File(staging / entry.path),
        )
        _each_party_signed(again, policy, customer)
        if again.manifest_sha256 != verified.manifest_sha256:
            raise BundleRefused(f"{bundle.name} changed while it was being installed")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = releases / meta.version
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    manifests = root / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / f"{meta.version}.json").write_bytes(verified.manifest.to_bytes())
    current, _ = installed_versions(root)
    if current is not None:
        _switch(root / "previous", Path("releases") / current)
    _switch(root / "current", Path("releases") / meta.version)
    _write_state(root, meta.version)
    return InstalledRelease(meta.version, target, verified.manifest_sha256, verified.signers)


def rollback(root: Path) -> str:
    """Make ``previous`` current again (and the current one previous); return the version now current."""
    previous, current = root / "previous", root / "current"
    if not previous.is_symlink() or not previous.resolve().is_dir():
        raise BundleRefused(f"{root} has no previous release to roll back to")
    back, now = os.readlink(previous), os.readlink(current)
    _switch(current, Path(back))
    _switch(previous, Path(now))
    return Path(back).name


def _switch(link: Path, target: Path) -> None:
    """Point link at target atomically (a new link renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


def _write_state(root: Path, version: str) -> None:
    _, highest = installed_versions(root)
    if highest is None or Version(version) > Version(highest):
        tmp = root / ".state.json.new"
        tmp.write_text(json.dumps({"highest": version}), encoding="utf-8")
        tmp.replace(root / "state.json")
