"""Helpers of the `suite audit` commands: opening the trail, parsing times, printing records.

The database, the trail and the settings are imported where they are used: `suite --help` and
`suite audit verify --export` must not pay for them (see benchmarks/cli_start.py).
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from suite.audit.events import EventClass
    from suite.audit.filters import AuditFilters
    from suite.audit.offline import VerifyReport
    from suite.audit.query import AuditRecord
    from suite.audit.siem import ForwardReport, SiemForwarder
    from suite.audit.trail import AuditTrail
    from suite.config import Settings
    from suite.db import Database

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default: the embedded demo configuration).")
]
FromOption = Annotated[str | None, typer.Option("--from", help="Start: ISO 8601 time or an age such as 7d, 12h.")]
ToOption = Annotated[str | None, typer.Option("--to", help="End (exclusive): ISO 8601 time or an age.")]
SubjectOption = Annotated[str | None, typer.Option(help="Who: a subject such as alice or apikey:0123abcd4567.")]
ModelOption = Annotated[str | None, typer.Option(help="Model name.")]
CollectionOption = Annotated[str | None, typer.Option(help="A RAG collection the request used.")]
DecisionOption = Annotated[str | None, typer.Option(help="Policy decision: allow or deny.")]
VerdictOption = Annotated[str | None, typer.Option(help="Guardrail verdict: NAME, OUTCOME or NAME:OUTCOME.")]
StatusOption = Annotated[str | None, typer.Option(help="ok, denied, error or started.")]
ClassOption = Annotated[str | None, typer.Option("--class", help="Event class, e.g. model_request, auth, admin.")]
ActionOption = Annotated[str | None, typer.Option(help="Action, e.g. chat.completions, login.")]
TextOption = Annotated[str | None, typer.Option(help="Text in the stored prompt or answer (case-insensitive).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print message in red and return the Exit to raise."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def settings_of(config: Path | None) -> Settings:
    """The settings, or exit 2 with the error (as every `suite` command does)."""
    from suite.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


@dataclass(frozen=True)
class Opened:
    """The trail and its database, opened for one command."""

    settings: Settings
    database: Database
    trail: AuditTrail

    def record(self, event_class: EventClass, action: str, **details: Any) -> None:
        """Record this use of the CLI before anything is shown; exit 1 when it cannot be recorded."""
        from suite.audit.events import AuditEvent
        from suite.errors import AuditUnavailable

        event = AuditEvent(
            event_class=event_class,
            action=action,
            subject=getpass.getuser(),
            auth_method="cli",
            details={k: v for k, v in details.items() if v is not None},
        )
        try:
            self.trail.record_sync(event)
        except AuditUnavailable as exc:
            raise fail(f"{exc.message} Nothing was shown.") from None

    def described(self, filters: AuditFilters) -> dict[str, Any]:
        """The filters for the access record; the search text is kept only as the content policy allows."""
        from suite.audit.events import apply_content_policy

        described = filters.describe()
        if filters.text is not None:
            described["text"] = apply_content_policy(self.settings.audit.content, filters.text)
        return described


@contextmanager
def opened(config: Path | None) -> Iterator[Opened]:
    """Settings, migrated database and trail for a command; the database is closed afterwards."""
    from sqlalchemy.exc import SQLAlchemyError

    from suite.audit.ledger import describe_error
    from suite.audit.trail import AuditTrail
    from suite.db import Database, migrate
    from suite.errors import InvalidRequest

    settings = settings_of(config)
    database = Database(settings.database_url)
    try:
        migrate(database)
        yield Opened(settings, database, AuditTrail(settings.audit, database, data_dir=settings.data_dir))
    except InvalidRequest as exc:
        raise fail(exc.message, 2) from None
    except SQLAlchemyError as exc:
        raise fail(f"Database error ({settings.database_url.split('@')[-1]}): {describe_error(exc)}") from None
    finally:
        database.dispose()


def when(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time (naive: UTC) or an age such as 7d, 12h, 30m before now."""
    from suite.auth import parse_duration
    from suite.errors import InvalidRequest

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return (now or datetime.now(UTC)) - parse_duration(text)
        except InvalidRequest:
            raise fail(f"Invalid time {text!r}: use ISO 8601 (2026-11-01T08:00) or an age such as 7d.", 2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filters_of(
    *,
    time_from: str | None,
    time_to: str | None,
    subject: str | None,
    model: str | None,
    collection: str | None,
    decision: str | None,
    verdict: str | None,
    status: str | None,
    event_class: str | None,
    action: str | None,
    text: str | None,
) -> AuditFilters:
    """AuditFilters from the command's options."""
    from suite.audit.filters import AuditFilters

    return AuditFilters(
        time_from=when(time_from),
        time_to=when(time_to),
        subject=subject,
        model=model,
        collection=collection,
        decision=decision,
        verdict=verdict,
        status=status,
        event_class=event_class,
        action=action,
        text=text,
    )


def print_records(records: list[AuditRecord], next_cursor: str | None) -> None:
    """A rich table of records, newest first, and how to get the next page."""
    from rich.console import Console
    from rich.table import Table

    table = Table("seq", "time", "class", "action", "subject", "model", "status", "record id")
    for record in records:
        table.add_row(
            str(record.seq),
            record.time.isoformat(timespec="seconds"),
            record.event_class,
            record.action,
            record.subject or "",
            record.model or "",
            record.status,
            record.record_id,
        )
    Console().print(table)
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}", err=True)


def print_report(report: VerifyReport) -> None:
    """The verification outcome: OK with what was checked, or FAILED with the first problem."""
    from suite.audit.offline import report_lines

    first, *rest = report_lines(report)
    typer.secho(first, fg=typer.colors.GREEN if report.ok else typer.colors.RED)
    for line in rest:
        typer.echo(line)


async def forward_until_interrupted(forwarder: SiemForwarder) -> None:
    """Run the SIEM forwarder until cancelled (Ctrl-C), then stop it."""
    await forwarder.start()
    try:
        await asyncio.Event().wait()
    finally:
        await forwarder.stop()


def print_forward_reports(reports: list[ForwardReport]) -> None:
    """One line per destination: what was sent, the cursor and the backlog, or why it failed."""
    for report in reports:
        line = f"{report.destination}: forwarded {report.forwarded}, cursor {report.cursor}, backlog {report.backlog}"
        line += f", {report.heads} signed heads"
        if report.error:
            typer.secho(f"{line}; FAILED: {report.error}", fg=typer.colors.RED)
        else:
            typer.echo(line)
