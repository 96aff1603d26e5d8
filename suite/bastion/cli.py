"""The `suite-bastion` command group: keys, bundles, import and the model registry.

What a command needs beyond typer is imported inside it, so that `suite-bastion --help` starts
quickly (benchmarks/cli_start.py; tests/test_cli_start.py checks what it loads).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suite.bastion.cli_bundle import bundle_app
from suite.bastion.cli_support import (
    ConfigOption,
    DowngradeOption,
    RequiredOption,
    TrustedKeysOption,
    actor,
    fail,
    install_checks,
    opened_registry,
    reported,
    settings_of,
)

if TYPE_CHECKING:
    from suite.registry import ModelVersion

app = typer.Typer(
    name="suite-bastion",
    help="Offline model import on the bastion host: keys, signed bundles, verification, registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model registry: list, show, promote, roll back, remove.", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")
app.add_typer(models_app, name="models")


@app.callback()
def main() -> None:
    """Offline model import for admins on the bastion host."""


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="Directory for the key pair.")],
    name: Annotated[str, typer.Option(help="Key name: files NAME (private) and NAME.pub.")] = "bundle-signing",
) -> None:
    """Write a new Ed25519 signing key pair (OpenSSH format; ssh-keygen -Y can use it too)."""
    from suite.bastion.signing import generate_key_pair

    try:
        private, public = generate_key_pair(out, name)
    except (FileExistsError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"private key: {private} (keep it offline; mode 0600)")
    typer.echo(f"public key:  {public} (add it to bastion.trusted_keys inside the perimeter)")


@app.command("import")
def import_(
    bundle: Annotated[Path, typer.Argument(help="The bundle tar.")],
    trusted_keys: TrustedKeysOption = None,
    required_signatures: RequiredOption = None,
    allow_downgrade: DowngradeOption = None,
    config: ConfigOption = None,
) -> None:
    """Verify a bundle, unpack it into the model store atomically and register it."""
    from suite.bastion.importer import import_bundle

    settings, policy, downgrade = install_checks(config, trusted_keys, required_signatures, allow_downgrade)
    with opened_registry(settings) as (registry, store), reported():
        version = import_bundle(
            bundle, policy=policy, store=store, registry=registry, actor=actor(), allow_downgrade=downgrade
        )
    typer.echo(f"imported {version.name} {version.version} ({version.format}) into {version.path}")
    typer.echo(f"promote it with: suite-bastion models promote {version.name} {version.version}")


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None, config: ConfigOption = None
) -> None:
    """Every registered model version with its state."""
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "version", "state", "format", "size", "imported", "by", "promoted")
    with opened_registry(settings_of(config)) as (registry, _):
        for v in registry.versions(name):
            table.add_row(
                v.name,
                v.version,
                v.state,
                v.format or "-",
                f"{v.manifest.total_size / 1e6:.1f} MB",
                v.imported_at.isoformat(timespec="seconds"),
                v.imported_by,
                v.promoted_at.isoformat(timespec="seconds") if v.promoted_at else "-",
            )
    Console().print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument()], version: Annotated[str, typer.Argument()], config: ConfigOption = None
) -> None:
    """One version: state, directory, signers, manifest (every file with its SHA-256) and promotion history."""
    with opened_registry(settings_of(config)) as (registry, _), reported():
        found = registry.get(name, version)
        history = registry.history(name)
    _describe(found)
    for step in history:
        typer.echo(f"  {step.time.isoformat(timespec='seconds')}  {step.action:<8} {step.version}  by {step.actor}")
    typer.echo(found.manifest.to_bytes().decode(), nl=False)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument()], version: Annotated[str, typer.Argument()], config: ConfigOption = None
) -> None:
    """Point the model at this version; the serving layer picks it up."""
    with opened_registry(settings_of(config)) as (registry, _), reported():
        promoted = registry.promote(name, version, actor=actor())
    typer.echo(f"{promoted.name} now serves {promoted.version}")


@models_app.command("rollback")
def models_rollback(name: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Serve the previous serving version again; the current one is retired."""
    with opened_registry(settings_of(config)) as (registry, _), reported():
        restored = registry.rollback(name, actor=actor())
    typer.echo(f"{restored.name} rolled back to {restored.version}")


@models_app.command("remove")
def models_remove(
    name: Annotated[str, typer.Argument()], version: Annotated[str, typer.Argument()], config: ConfigOption = None
) -> None:
    """Unregister a version that is not serving and delete its files from the model store."""
    with opened_registry(settings_of(config)) as (registry, _), reported():
        removed = registry.remove(name, version, actor=actor())
    typer.echo(f"removed {removed.name} {removed.version} ({removed.path})")


def _describe(v: ModelVersion) -> None:
    typer.echo(f"{v.name} {v.version}: {v.state}, {v.format or v.manifest.kind}, {v.path}")
    typer.echo(f"  imported {v.imported_at.isoformat(timespec='seconds')} by {v.imported_by}")
    typer.echo(f"  signed by {', '.join(v.signers)}; manifest sha256 {v.manifest_sha256}")
    typer.echo(f"  licence {v.manifest.licence or '-'}; source {v.manifest.source or '-'}")


def run() -> None:
    """Console-script entry point."""
    app()
