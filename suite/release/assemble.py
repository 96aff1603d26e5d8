"""Assembling a release folder (images, SBOMs, wheelhouse, Ansible, runbooks) and reading bundles back.

The folder is what ``build_release`` signs; ``offline-bundle/build`` drives the whole chain. Its layout:

    images/<name>.oci.tar     podman save --format oci-archive (loaded on the hosts with podman load)
    images.json               name, tag, manifest digest and archive of every image (the quadlets pin
                              Image=<name>@<digest>; the load is skipped when the digest is present)
    sbom/<name>.python.cdx.json, sbom/<name>.os.cdx.json   CycloneDX 1.6
    wheelhouse/*.whl          pip install --no-index --find-links wheelhouse -r wheelhouse/requirements.lock
    ansible/, runbooks/       the playbooks and the operators' runbooks of this release
    release.json              written by build_release (version, min_upgrade_from, expiry)

``inspect`` reads a bundle's head and release.json without trusting it (it says so); ``diff`` compares
a bundle's manifest with the one stored at install time for the current release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from suite.errors import BundleRefused
from suite.registry import Manifest
from suite.release.build import RELEASE_META, ReleaseMeta

REPO = Path(__file__).resolve().parents[2]
IMAGES_META = "images.json"


class ImageRecord(BaseModel):
    """One image in a release: how the hosts load it and pin it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    tag: str
    digest: str
    archive: str


def archive_digest(archive: Path) -> str:
    """The manifest digest inside an OCI archive (what podman load keeps and the quadlet pins)."""
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{archive}"], check=True, capture_output=True)
    return "sha256:" + hashlib.sha256(raw.stdout).hexdigest()


def add_image(folder: Path, archive: Path, *, name: str, tag: str) -> ImageRecord:
    """Link (or copy) an OCI archive into folder/images and record it in images.json."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    target = images / f"{name}.oci.tar"
    _link_or_copy(archive, target)
    record = ImageRecord(name=name, tag=tag, digest=archive_digest(target), archive=f"images/{target.name}")
    meta = folder / IMAGES_META
    records = [ImageRecord.model_validate(item) for item in json.loads(meta.read_text())] if meta.exists() else []
    records = [r for r in records if r.name != name] + [record]
    meta.write_text(json.dumps([r.model_dump() for r in records], indent=1), encoding="utf-8")
    return record


def add_wheelhouse(folder: Path, *, wheels: Path | None, lock: Path = REPO / "requirements.lock") -> Path:
    """Fill folder/wheelhouse: the suite's own wheel plus every pinned dependency.

    With ``wheels`` (a folder of already downloaded wheels, e.g. make install's cache) they are
    linked in; without, ``pip download`` fetches every pin of requirements.lock (build side only:
    the release is assembled where a package index is reachable, never on the hosts).
    """
    house = folder / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(house),
                    str(REPO)], check=True)  # fmt: skip
    if wheels is not None:
        for wheel in sorted(wheels.glob("*.whl")):
            _link_or_copy(wheel, house / wheel.name)
        shutil.copy2(wheels / "requirements.txt", house / "requirements.lock")
    else:
        subprocess.run([*pip, "download", "--quiet", "--no-deps", "--dest", str(house), "-r", str(lock),
                        "torch==2.13.0"], check=True)  # fmt: skip
        shutil.copy2(lock, house / "requirements.lock")
    return house


def add_tree(folder: Path, name: str, source: Path) -> None:
    """Copy a source tree (ansible/, runbooks/) into the release folder, without caches."""
    shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


@dataclass(frozen=True)
class BundleSummary:
    """What a bundle claims (unverified unless verify passed): its manifest and release metadata."""

    manifest: Manifest
    manifest_sha256: str
    signatures: int
    meta: ReleaseMeta | None
    images: list[ImageRecord]


def read_summary(bundle: Path) -> BundleSummary:
    """Read a bundle's manifest, signature count, release.json and images.json without verifying them."""
    small: dict[str, bytes] = {}
    signatures = 0
    manifest_bytes = b""
    try:
        with tarfile.open(bundle, mode="r:") as tar:
            for member in tar:
                if member.name == "manifest.json":
                    manifest_bytes = _read(tar, member)
                elif member.name.startswith("signatures/"):
                    signatures += 1
                elif member.name in {f"payload/{RELEASE_META}", f"payload/{IMAGES_META}"}:
                    small[member.name.removeprefix("payload/")] = _read(tar, member)
    except (tarfile.TarError, OSError) as exc:
        raise BundleRefused(f"{bundle.name} is not a readable bundle: {exc}") from None
    if not manifest_bytes:
        raise BundleRefused(f"{bundle.name} has no manifest.json")
    manifest = Manifest.model_validate_json(manifest_bytes)
    meta = ReleaseMeta.model_validate_json(small[RELEASE_META]) if RELEASE_META in small else None
    images = [ImageRecord.model_validate(item) for item in json.loads(small.get(IMAGES_META, b"[]"))]
    return BundleSummary(manifest, hashlib.sha256(manifest_bytes).hexdigest(), signatures, meta, images)


@dataclass(frozen=True)
class ReleaseDiff:
    """What installing a bundle changes against the installed release."""

    from_version: str | None
    to_version: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    images: list[str]


def diff_manifests(installed: Manifest | None, incoming: Manifest, installed_images: list[ImageRecord],
                   incoming_images: list[ImageRecord]) -> ReleaseDiff:  # fmt: skip
    """Files added, removed and changed (by SHA-256), and images whose digest changes."""
    old = {entry.path: entry.sha256 for entry in installed.files} if installed else {}
    new = {entry.path: entry.sha256 for entry in incoming.files}
    before = {image.name: image.digest for image in installed_images}
    images = [
        f"{image.name}: {before.get(image.name, 'absent')} -> {image.digest}"
        for image in incoming_images
        if before.get(image.name) != image.digest
    ]
    return ReleaseDiff(
        from_version=installed.version if installed else None,
        to_version=incoming.version,
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(path for path in set(new) & set(old) if new[path] != old[path]),
        images=images,
    )


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int = 64 * 1024 * 1024) -> bytes:
    if not member.isreg() or member.size > limit:
        raise BundleRefused(f"{member.name} is not a small regular file")
    source = tar.extractfile(member)
    assert source is not None
    return source.read()


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        dst.hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
