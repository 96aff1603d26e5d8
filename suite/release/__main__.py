"""``python -m suite.release``: build, verify, install and roll back a signed release bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from suite.bastion import TrustPolicy, load_private_key, load_public_key
from suite.errors import BundleRefused
from suite.release.build import build_release
from suite.release.install import install_release, rollback, verify_release

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
Keys = Annotated[list[Path], typer.Option("--key", help="Trusted signer public key (repeat for k of n).")]
Root = Annotated[Path, typer.Option("--root", help="Release root (releases/, current, previous).")]


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
    sign_key: Annotated[list[Path], typer.Option("--sign-key", help="Private signing key (repeat).")],
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
def verify(bundle: Path, key: Keys, root: Root, required: int = 1) -> None:
    """Check everything (signatures, every file, expiry, upgrade path, disk space); write nothing."""
    try:
        verified, meta = verify_release(bundle, _policy(key, required), root)
    except BundleRefused as exc:
        raise _refused(exc) from None
    typer.echo(f"ok: release {meta.version}, manifest sha256 {verified.manifest_sha256}")


@app.command()
def install(bundle: Path, key: Keys, root: Root, required: int = 1) -> None:
    """Verify, unpack into releases/<version> and make it current."""
    try:
        done = install_release(bundle, _policy(key, required), root)
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


if __name__ == "__main__":
    app()
