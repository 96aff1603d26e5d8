"""`suite guard check "text"`: what each guardrail finds in a text, as a table."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer

guard_app = typer.Typer(help="Guardrails: try the checks on a text.", no_args_is_help=True)


@guard_app.command("check")
def check(
    text: Annotated[str, typer.Argument(help="The text to check (a user turn).")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
) -> None:
    """Run every loaded check on the text and show each one's finding and the masked text."""
    from rich.console import Console
    from rich.table import Table

    from suite.audit import AuditEvent, AuditTrail
    from suite.config import ConfigError, load_settings
    from suite.db import Database, migrate
    from suite.guardrails.inspect import inspect_text
    from suite.guardrails.pipeline import Guardrails
    from suite.observability import enforce_offline

    enforce_offline()
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    guardrails = Guardrails(settings.guardrails, data_dir=settings.data_dir)
    try:
        guardrails.load()
    except (OSError, ValueError) as exc:
        typer.secho(f"The guardrails cannot load: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    report = asyncio.run(inspect_text(guardrails, text))
    table = Table("check", "outcome", "score", "reason")
    colours = {"allow": "green", "mask": "yellow", "block": "red"}
    for verdict in report.verdicts:
        outcome = f"[{colours[verdict.outcome]}]{verdict.outcome}[/]"
        table.add_row(verdict.name, outcome, f"{verdict.score:.2f}", verdict.reason)
    console = Console()
    console.print(table)
    console.print(f"masked: {report.masked}", markup=False)
    database = Database(settings.database_url)
    migrate(database)
    # Trying the checks is on the trail like any admin tool; the verdicts, never the text.
    AuditTrail(settings.audit, database, data_dir=settings.data_dir).record_sync(
        AuditEvent(
            event_class="guardrail",
            action="guard.check",
            subject=getpass.getuser(),
            auth_method="cli",
            verdicts=[v.as_record() for v in report.verdicts],
        )
    )
    database.dispose()
