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


@guard_app.command("eval")
def evaluate_corpus(
    corpus: Annotated[
        Path | None, typer.Option("--corpus", help="Corpus directory (attacks.yaml, benign.yaml); default held-out.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
    show_misses: Annotated[
        bool, typer.Option("--show-misses", help="List missed attacks and false positives.")
    ] = False,
) -> None:
    """Detection and false positives of the injection screen per language and family, and latency."""
    import statistics

    from rich.console import Console
    from rich.table import Table

    from suite.config import ConfigError, load_settings
    from suite.guardrails.evaluation import HELDOUT, evaluate, load_corpus
    from suite.guardrails.pipeline import Guardrails
    from suite.observability import enforce_offline

    enforce_offline()
    try:
        settings = load_settings(config)
        samples = load_corpus(corpus or HELDOUT)
    except (ConfigError, OSError, ValueError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    guardrails = Guardrails(settings.guardrails, data_dir=settings.data_dir)
    try:
        guardrails.load()
    except (OSError, ValueError) as exc:
        typer.secho(f"The guardrails cannot load: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    report = evaluate(samples, guardrails.injection)
    table = Table("lang", "family", "attacks", "detection", "benign", "false pos.")

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for (lang, family), cell in sorted(report.cells.items()):
        table.add_row(
            lang, family, str(cell.attacks), fmt(cell.detection), str(cell.benign), fmt(cell.false_positive_rate)
        )
    for lang, cell in sorted(report.totals.items()):
        table.add_row(
            f"[bold]{lang}[/]", "[bold]all[/]", str(cell.attacks), fmt(cell.detection), str(cell.benign),
            fmt(cell.false_positive_rate),
        )  # fmt: skip
    console = Console()
    console.print(table)
    latencies = sorted(report.latencies_ms)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    console.print(f"latency per prompt: p50 {statistics.median(latencies):.2f} ms, p95 {p95:.2f} ms")
    if show_misses:
        for lang, cell in sorted(report.totals.items()):
            for text in cell.missed:
                console.print(f"missed [{lang}]: {text}", markup=False)
            for text in cell.false_positives:
                console.print(f"false positive [{lang}]: {text}", markup=False)


@guard_app.command("train")
def train_model(
    output: Annotated[Path | None, typer.Option("--output", help="Where to write the weights (.npz).")] = None,
) -> None:
    """Train the learned injection detector on the dev corpus and data/training.yaml (never held-out)."""
    from suite.guardrails.learned import MODEL_PATH
    from suite.guardrails.train import train

    figures = train(output or MODEL_PATH)
    typer.echo(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))
