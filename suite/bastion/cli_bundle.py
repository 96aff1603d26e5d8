"""`suite-bastion bundle ...`: create, verify, co-sign, split and join bundles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suite.bastion.cli_support import (
    ConfigOption,
    DowngradeOption,
    RequiredOption,
    TrustedKeysOption,
    actor,
    existing_registry,
    fail,
    install_checks,
    reported,
)

if TYPE_CHECKING:
    from suite.registry import BundleKind, WeightFormat

bundle_app = typer.Typer(help="Signed bundles: create, verify, sign, split, join.", no_args_is_help=True)

KeyOption = Annotated[list[Path], typer.Option("--key", help="Private signing key; repeat for k-of-n.")]


@bundle_app.command("create")
def create(
    out: Annotated[Path, typer.Option(help="The bundle tar to write.")],
    key: KeyOption,
    files: Annotated[Path, typer.Option(help="Directory whose files become the payload.")],
    name: Annotated[str | None, typer.Option(help="Model name (default: the directory's name).")] = None,
    version: Annotated[str, typer.Option(help="PEP 440 version, e.g. 1.0.0.")] = "1.0.0",
    kind: Annotated[str, typer.Option(help="model or suite-update.")] = "model",
    format: Annotated[str | None, typer.Option(help="safetensors or gguf (default: detected).")] = None,
    licence: Annotated[str, typer.Option(help="Licence of the weights, e.g. apache-2.0.")] = "",
    source: Annotated[str, typer.Option(help="Where the files came from (URL, vendor, ticket).")] = "",
) -> None:
    """Hash the files, write and sign the manifest, and write the bundle."""
    from suite.bastion.bundle import create_bundle
    from suite.bastion.signing import load_private_key

    if kind not in ("model", "suite-update"):
        raise fail(f"--kind must be model or suite-update, not {kind!r}", 2)
    if format not in (None, "safetensors", "gguf"):
        raise fail(f"--format must be safetensors or gguf, not {format!r}", 2)
    bundle_kind: BundleKind = "model" if kind == "model" else "suite-update"
    weight_format: WeightFormat | None = None if format is None else ("gguf" if format == "gguf" else "safetensors")
    with reported():
        keys = [load_private_key(path) for path in key]
        manifest = create_bundle(
            files,
            out,
            keys=keys,
            name=name or files.resolve().name,
            version=version,
            kind=bundle_kind,
            format=weight_format,
            licence=licence,
            source=source,
            creator=actor(),
        )
    typer.echo(
        f"wrote {out}: {manifest.name} {manifest.version} ({manifest.kind}, {manifest.format or '-'}), "
        f"{len(manifest.files)} files, {manifest.total_size} bytes, {len(keys)} signature(s)"
    )


@bundle_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle tar.")],
    trusted_keys: TrustedKeysOption = None,
    required_signatures: RequiredOption = None,
    allow_downgrade: DowngradeOption = None,
    config: ConfigOption = None,
) -> None:
    """Check signatures, then every byte against the manifest; nothing is unpacked."""
    from suite.bastion.importer import verify_for_install

    settings, policy, downgrade = install_checks(config, trusted_keys, required_signatures, allow_downgrade)
    with existing_registry(settings) as registry, reported():
        verified = verify_for_install(bundle, policy, registry, allow_downgrade=downgrade)
    manifest = verified.manifest
    typer.echo(
        f"OK {manifest.name} {manifest.version} ({manifest.kind}, {manifest.format or '-'}): "
        f"{len(manifest.files)} files, {verified.payload_bytes} bytes match the manifest; "
        f"signed by {', '.join(verified.signers)}"
    )


@bundle_app.command("sign")
def sign(
    bundle: Annotated[Path, typer.Argument(help="The bundle tar.")],
    key: Annotated[Path, typer.Option(help="Private signing key.")],
    out: Annotated[Path, typer.Option(help="Where to write the co-signed bundle.")],
) -> None:
    """Add one more signature over the manifest (k-of-n signing by several people)."""
    from suite.bastion.bundle import add_signature
    from suite.bastion.signing import load_private_key

    with reported():
        add_signature(bundle, load_private_key(key), out)
    typer.echo(f"wrote {out}")


@bundle_app.command("split")
def split(
    bundle: Annotated[Path, typer.Argument(help="The bundle tar.")],
    size: Annotated[str, typer.Option(help="Largest part, e.g. 4G or 700M.")] = "4G",
    out: Annotated[Path | None, typer.Option(help="Directory for the parts (default: next to the bundle).")] = None,
) -> None:
    """Cut a bundle into parts for removable media, with a sha256sum list of the parts."""
    from suite.bastion.parts import parse_size, split_bundle

    try:
        part_size = parse_size(size)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with reported():
        listing = split_bundle(bundle, part_size=part_size, out_dir=out or bundle.parent)
    typer.echo(f"wrote {len(listing.read_text().splitlines())} part(s), listed in {listing}")


@bundle_app.command("join")
def join(
    parts_list: Annotated[Path, typer.Argument(help="The BUNDLE.parts.sha256 list written by split.")],
    out: Annotated[Path, typer.Option(help="The joined bundle tar.")],
) -> None:
    """Check each part's SHA-256 and join them; verify the result with `bundle verify`."""
    from suite.bastion.parts import join_parts

    with reported():
        join_parts(parts_list, out)
    typer.echo(f"wrote {out}; now run: suite-bastion bundle verify {out}")
