"""The `suite-bastion` command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="suite-bastion",
    help="Offline model import on the bastion host: keys, signed bundles, verification, registry.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Offline model import for admins on the bastion host."""


def run() -> None:
    """Console-script entry point."""
    app()
