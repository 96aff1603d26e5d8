"""``python -m suite.release``: assemble, sign, inspect, diff, verify, install and roll back a release bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from suite.bastion import (
    TrustPolicy,
    add_signature,
    load_private_key,
    load_public_key,
    parse_size,
    split_bundle,
)
from suite.errors import BundleRefused
from suite.registry import Manifest
from suite.release.assemble import (
    IMAGES_META,
    ImageRecord,
    add_image,
    add_tree,
    add_wheelhouse,
    diff_manifests,
    read_summary,
)
from suite.release.build import build_release
from suite.release.install import install_release, installed_versions, rollback, verify_release

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
Keys = Annotated[list[Path], typer.Option("--key", help="Trusted signer public key (repeat for k of n).")]
Root = Annotated[Path, typer.Option("--root", help="Release root (releases/, current, previous).")]
CustomerKeys = Annotated[
    list[Path] | None,
    typer.Option("--customer-key", help="The customer's countersigning public key; when given, one is required."),
]
SignKeys = Annotated[list[Path], typer.Option("--sign-key", help="Private signing key (repeat).")]


def _customer(keys: list[Path] | None) -> TrustPolicy | None:
    return _policy(keys, 1) if keys else None


def _policy(keys: list[Path], required: int) -> TrustPolicy:
    try:
        return TrustPolicy(keys=tuple(load_public_key(key) for key in keys), required=required)
    except ValueError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _refused(exc: BundleRefused) -> typer.Exit:
    typer.secho(f"refused: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@app.command()
def build(
    source: Annotated[Path, typer.Argument(help="Folder of release files (images/, wheelhouse/, ansible/ ...).")],
    out: Annotated[Path, typer.Argument(help="The bundle to write.")],
    version: Annotated[str, typer.Option(help="Release version (PEP 440).")],
    min_upgrade_from: Annotated[str, typer.Option(help="Oldest release this one upgrades.")],
    sign_key: SignKeys,
    creator: Annotated[str, typer.Option(help="Who builds the release.")] = "release",
    valid_days: Annotated[int, typer.Option(help="Days until the release expires.")] = 90,
) -> None:
    """Sign the folder into a release bundle."""
    keys = [load_private_key(path) for path in sign_key]
    manifest = build_release(
        source, out, keys=keys, version=version, min_upgrade_from=min_upgrade_from, creator=creator,
        valid_days=valid_days,
    )  # fmt: skip
    typer.echo(f"{out}: release {manifest.version}, {len(manifest.files)} files")


@app.command()
def verify(bundle: Path, key: Keys, root: Root, required: int = 1, customer_key: CustomerKeys = None) -> None:
    """Check everything (signatures, every file, expiry, upgrade path, disk space); write nothing."""
    try:
        verified, meta = verify_release(bundle, _policy(key, required), root, customer=_customer(customer_key))
    except BundleRefused as exc:
        raise _refused(exc) from None
    typer.echo(f"ok: release {meta.version}, manifest sha256 {verified.manifest_sha256}")


@app.command()
def install(bundle: Path, key: Keys, root: Root, required: int = 1, customer_key: CustomerKeys = None) -> None:
    """Verify, unpack into releases/<version> and make it current."""
    try:
        done = install_release(bundle, _policy(key, required), root, customer=_customer(customer_key))
    except BundleRefused as exc:
        raise _refused(exc) from None
    typer.echo(f"installed {done.version} (manifest sha256 {done.manifest_sha256})")


@app.command("rollback")
def rollback_command(root: Root) -> None:
    """Return to the previous release."""
    try:
        typer.echo(f"current: {rollback(root)}")
    except BundleRefused as exc:
        raise _refused(exc) from None


@app.command()
def assemble(
    out: Annotated[Path, typer.Argument(help="Folder to write the bundle (and its parts) into.")],
    version: Annotated[str, typer.Option(help="Release version (PEP 440).")],
    min_upgrade_from: Annotated[str, typer.Option(help="Oldest release this one upgrades.")],
    sign_key: SignKeys,
    image: Annotated[
        list[str] | None, typer.Option(help="NAME=OCI_ARCHIVE of an image built already (repeat).")
    ] = None,
    sbom: Annotated[list[Path] | None, typer.Option(help="A CycloneDX SBOM file to ship (repeat).")] = None,
    wheels: Annotated[Path | None, typer.Option(help="Wheels downloaded already (else pip download).")] = None,
    split: Annotated[str | None, typer.Option(help="Also cut into parts of this size (e.g. 4G).")] = None,
    valid_days: int = 90,
) -> None:
    """Assemble the release folder (images, SBOMs, wheelhouse, ansible, runbooks), sign it, split it."""
    from suite.release.assemble import REPO

    stage = out / f".suite-release-{version}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        for item in image or []:
            name, _, archive = item.partition("=")
            add_image(stage, Path(archive), name=name, tag=version)
        for document in sbom or []:
            (stage / "sbom").mkdir(exist_ok=True)
            shutil.copy2(document, stage / "sbom" / document.name)
        add_wheelhouse(stage, wheels=wheels)
        add_tree(stage, "ansible", REPO / "ansible")
        add_tree(stage, "runbooks", REPO / "runbooks")
        bundle = out / f"suite-release-{version}.bundle"
        manifest = build_release(
            stage, bundle, keys=[load_private_key(path) for path in sign_key], version=version,
            min_upgrade_from=min_upgrade_from, creator="release", valid_days=valid_days,
        )  # fmt: skip
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    typer.echo(f"{bundle}: release {manifest.version}, {len(manifest.files)} files, {bundle.stat().st_size} bytes")
    if split:
        listing = split_bundle(bundle, part_size=parse_size(split), out_dir=out / "parts")
        typer.echo(f"parts: {listing} (check on the far side with sha256sum -c)")


@app.command()
def countersign(
    bundle: Path,
    key: Annotated[Path, typer.Option("--key", help="The customer's private key.")],
    out: Annotated[Path, typer.Option("--out", help="The countersigned bundle to write.")],
) -> None:
    """Add the customer's own signature (hosts configured with --customer-key then require it)."""
    add_signature(bundle, load_private_key(key), out)
    typer.echo(f"{out}: countersigned")


@app.command()
def inspect(bundle: Path) -> None:
    """Show what a bundle claims (not verified: run verify for that)."""
    try:
        summary = read_summary(bundle)
    except BundleRefused as exc:
        raise _refused(exc) from None
    manifest, meta = summary.manifest, summary.meta
    typer.echo(
        f"{manifest.name} {manifest.version} ({manifest.kind}), created {manifest.created} by {manifest.creator}"
    )
    typer.echo(f"manifest sha256 {summary.manifest_sha256}, {summary.signatures} signatures (UNVERIFIED)")
    if meta is not None:
        typer.echo(f"upgrades from {meta.min_upgrade_from} or later; expires {meta.expires.isoformat()}")
    sizes: dict[str, int] = {}
    for entry in manifest.files:
        top = entry.path.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + entry.size
    for top, size in sorted(sizes.items()):
        typer.echo(f"  {top}: {size} bytes")
    for record in summary.images:
        typer.echo(f"  image {record.name}:{record.tag} {record.digest}")


@app.command()
def diff(bundle: Path, root: Root) -> None:
    """What installing bundle changes against the current release at root (files, images)."""
    try:
        summary = read_summary(bundle)
    except BundleRefused as exc:
        raise _refused(exc) from None
    current, _ = installed_versions(root)
    installed: Manifest | None = None
    images: list[ImageRecord] = []
    if current is not None:
        stored = root / "manifests" / f"{current}.json"
        installed = Manifest.model_validate_json(stored.read_bytes()) if stored.exists() else None
        meta = root / "current" / IMAGES_META
        if meta.exists():
            images = [ImageRecord.model_validate(item) for item in json.loads(meta.read_text(encoding="utf-8"))]
    change = diff_manifests(installed, summary.manifest, images, summary.images)
    typer.echo(f"{change.from_version or 'nothing installed'} -> {change.to_version}")
    for label, paths in (("added", change.added), ("removed", change.removed), ("changed", change.changed)):
        typer.echo(f"{label}: {len(paths)}")
        for path in paths:
            typer.echo(f"  {path}")
    for line in change.images:
        typer.echo(f"image {line}")


@app.command("sbom")
def sbom_command(
    out: Annotated[Path, typer.Argument(help="Folder for NAME.python.cdx.json and NAME.os.cdx.json.")],
    context: Annotated[Path, typer.Option(help="The image's staged build context (containers/build.py).")],
    packages: Annotated[Path, typer.Option(help="The base's package list (base-packages.json).")],
    name: str = "suite-gateway",
    version: str = "dev",
) -> None:
    """CycloneDX SBOMs of an image's Python environment and OS packages (build side: dev dependencies)."""
    from suite.release.sbom import os_sbom, python_sbom

    python_sbom(context, out / f"{name}.python.cdx.json", name=name, version=version)
    os_sbom(packages, out / f"{name}.os.cdx.json", name=name, version=version)
    typer.echo(f"{out}: {name}.python.cdx.json, {name}.os.cdx.json")


if __name__ == "__main__":
    app()
