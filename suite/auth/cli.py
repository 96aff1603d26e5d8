"""`suite auth ...`: identity commands for administrators."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

auth_app = typer.Typer(help="Identity: check how access tokens map to principals.", no_args_is_help=True)


@auth_app.command("check-token")
def check_token(
    token: Annotated[str | None, typer.Argument(help="The access token; omitted: read from standard input.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
) -> None:
    """Explain whether the gateway would accept a token, which principal and roles it maps to, and why."""
    import httpx

    from suite.auth.check_token import explain
    from suite.config import ConfigError, load_settings

    if token is None:
        token = sys.stdin.readline() if not sys.stdin.isatty() else typer.prompt("Access token", hide_input=True)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> tuple[bool, list[str]]:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await explain(token, settings, client)

    accepted, lines = asyncio.run(run())
    for line in lines:
        typer.echo(line)
    raise typer.Exit(0 if accepted else 1)
