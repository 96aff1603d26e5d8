"""`suite audit`: search, show, export, verify, purge, legal holds and key rotation.

Every command that reads the trail first records that it did (class ``audit_access``), and
shows nothing if that record cannot be written; changes are recorded as ``admin`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from suite.audit.cli_support import (
    ActionOption,
    ClassOption,
    CollectionOption,
    ConfigOption,
    DecisionOption,
    FromOption,
    ModelOption,
    StatusOption,
    SubjectOption,
    TextOption,
    ToOption,
    VerdictOption,
    fail,
    filters_of,
    forward_until_interrupted,
    opened,
    print_forward_reports,
    print_records,
    print_report,
    settings_of,
    when,
)
from suite.audit.keys import KeyRing, TrustedKeys, checkpoint_dir_of, key_dir_of, load_public_keys

if TYPE_CHECKING:
    from suite.audit.offline import VerifyReport
    from suite.audit.walk import Checkpoint
    from suite.config import Settings

audit_app = typer.Typer(help="The tamper-evident audit trail (compliance).", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: records no purge may delete.", no_args_is_help=True)
audit_app.add_typer(hold_app, name="hold")


@audit_app.command("query")
def query(
    config: ConfigOption = None,
    time_from: FromOption = None,
    time_to: ToOption = None,
    subject: SubjectOption = None,
    model: ModelOption = None,
    collection: CollectionOption = None,
    decision: DecisionOption = None,
    verdict: VerdictOption = None,
    status: StatusOption = None,
    event_class: ClassOption = None,
    action: ActionOption = None,
    text: TextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Records per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue where the previous page ended.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Search records, newest first."""
    from suite.audit.query import AuditQuery

    filters = filters_of(
        time_from=time_from,
        time_to=time_to,
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
    with opened(config) as ctx:
        ctx.record("audit_access", "audit.query", filters=ctx.described(filters), cursor=cursor, limit=limit)
        page = AuditQuery(ctx.database).search(filters, cursor=cursor, limit=limit)
    if as_json:
        records = [record.model_dump(mode="json") for record in page.records]
        typer.echo(json.dumps({"records": records, "next_cursor": page.next_cursor}, indent=2, ensure_ascii=False))
    else:
        print_records(page.records, page.next_cursor)


@audit_app.command("show")
def show(
    record_id: Annotated[str, typer.Argument(help="The record id (a UUID).")], config: ConfigOption = None
) -> None:
    """Print one record, with its chain fields, as JSON."""
    from suite.audit.query import AuditQuery

    with opened(config) as ctx:
        ctx.record("audit_access", "audit.show", record_id=record_id)
        record = AuditQuery(ctx.database).get(record_id)
    if record is None:
        raise fail(f"No audit record {record_id}.")
    typer.echo(record.model_dump_json(indent=2))


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[Literal["jsonl", "csv"], typer.Option("--format", help="jsonl (verifiable) or csv.")] = "jsonl",
    config: ConfigOption = None,
    time_from: FromOption = None,
    time_to: ToOption = None,
    subject: SubjectOption = None,
    model: ModelOption = None,
    collection: CollectionOption = None,
    decision: DecisionOption = None,
    verdict: VerdictOption = None,
    status: StatusOption = None,
    event_class: ClassOption = None,
    action: ActionOption = None,
    text: TextOption = None,
) -> None:
    """Export matching records with their chain fields and checkpoints (verify with `verify --export`)."""
    from suite.audit.query import AuditQuery

    filters = filters_of(
        time_from=time_from,
        time_to=time_to,
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
    with opened(config) as ctx:
        ctx.record("audit_access", "audit.export", filters=ctx.described(filters), format=fmt)
        count = 0
        with out.open("w", encoding="utf-8", newline="") as target:
            for line in AuditQuery(ctx.database).export(filters, keys=ctx.trail.keys, fmt=fmt):
                target.write(line)
                count += 1
    typer.echo(f"wrote {out} ({count} lines)", err=True)


HeadsFromSiemOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--heads-from-siem",
        help="What a SIEM stored of the forwarded trail (syslog or JSON lines): its signed heads are compared.",
    ),
]

WitnessOption = Annotated[
    list[str] | None,
    typer.Option("--witness", help="A witness's heads URL (http://host:port/audit/witness/ORIGIN/heads): compared."),
]
HeadsFromWitnessOption = Annotated[
    list[Path] | None,
    typer.Option("--heads-from-witness", help="A witness's countersigned heads, saved to a file: compared."),
]
WitnessKeyOption = Annotated[
    list[Path] | None,
    typer.Option("--witness-key", help="The witness's public key (PEM): its countersignatures must be by it."),
]


@audit_app.command("verify")
def verify(
    config: ConfigOption = None,
    export_file: Annotated[
        Path | None, typer.Option("--export", help="Verify this JSONL export instead of the database.")
    ] = None,
    trusted_key: Annotated[
        list[Path] | None, typer.Option("--trusted-key", help="Trusted public key (PEM); default: the key directory.")
    ] = None,
    heads_file: Annotated[
        list[Path] | None,
        typer.Option("--heads", help="Signed heads to compare (checkpoint file); default: the configured one."),
    ] = None,
    heads_from_siem: HeadsFromSiemOption = None,
    witness: WitnessOption = None,
    heads_from_witness: HeadsFromWitnessOption = None,
    witness_key: WitnessKeyOption = None,
    every_records: Annotated[
        int | None, typer.Option("--every-records", min=1, help="The writer's checkpoint_every_records (exports).")
    ] = None,
    rhythm_from: Annotated[
        int | None,
        typer.Option(
            "--rhythm-from",
            min=0,
            help="Leave records up to this seq out of the rhythm check (written by an older suite); "
            "default: audit.checkpoint_rhythm_from_seq.",
        ),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Afterwards, record the verification in the trail.")
    ] = True,
) -> None:
    """Verify hashes, links, seqs, checkpoint signatures and rhythm, and the heads kept outside the
    database (checkpoint file, SIEM, witness); exit 0 only when all is intact. Reads only, and needs public keys
    only; a passing verification of the database is recorded afterwards (not with --no-record).

    With --export and --trusted-key and no --config, no settings are read (an auditor's machine);
    otherwise the configured checkpoint file is compared too, unless --heads names others."""
    from suite.audit.offline import verify_export

    # Settings are read unless an auditor verifies a file with keys given (no --config).
    settings = None if export_file is not None and trusted_key and config is None else settings_of(config)
    try:
        trusted = load_public_keys(trusted_key) if trusted_key else None
        heads = _outside_heads(settings, heads_file, heads_from_siem)
        heads += _witness_heads(witness or [], heads_from_witness or [], witness_key)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    if trusted is None:
        assert settings is not None
        try:
            trusted = KeyRing(key_dir_of(settings.audit, settings.data_dir)).public_keys()
        except (OSError, ValueError) as exc:
            raise fail(f"FAILED: {exc}", 1) from None
    audit = settings.audit if settings is not None else None
    rhythm = rhythm_from if rhythm_from is not None else audit.checkpoint_rhythm_from_seq if audit else 0
    if export_file is not None:
        # A file on its own needs no database: an outside auditor can run this with the public keys.
        report = verify_export(export_file, trusted, heads=heads, every_records=every_records, rhythm_from=rhythm)
        print_report(report)
        if not report.ok:
            raise typer.Exit(1)
        return
    assert settings is not None
    report = _verify_stored(settings, trusted, heads, rhythm)
    print_report(report)
    if not report.ok:
        typer.echo("not recorded: nothing is written to a trail that failed verification", err=True)
        raise typer.Exit(1)
    if record:
        with opened(config) as ctx:
            ctx.record("audit_access", "audit.verify", records=report.records_checked, last_seq=report.last_seq)


def _outside_heads(
    settings: Settings | None, heads_files: list[Path] | None, siem_files: list[Path] | None
) -> list[Checkpoint]:
    """The signed heads kept outside the database: checkpoint files (given, else the configured one
    when there are settings and it exists) and the SIEM's copies. OSError, ValueError naming the file."""
    from suite.audit.offline import CHECKPOINT_FILE, read_heads, read_siem_heads

    files = list(heads_files or ())
    if not files and settings is not None:
        configured = checkpoint_dir_of(settings.audit, settings.data_dir) / CHECKPOINT_FILE
        files = [configured] if configured.exists() else []
    heads = [head for path in files for head in read_heads(path)]
    return heads + [head for path in siem_files or () for head in read_siem_heads(path)]


def _witness_heads(urls: list[str], files: list[Path], key_files: list[Path] | None) -> list[Checkpoint]:
    """The heads witnesses countersigned, fetched from their URLs or read from saved files."""
    from suite.audit.offline import read_witness_heads

    witness_keys = load_public_keys(key_files) if key_files else None
    heads = [
        head
        for path in files
        for head in read_witness_heads(
            path.read_text(encoding="utf-8").splitlines(), name=path.name, witness_keys=witness_keys
        )
    ]
    if urls:
        import httpx

        with httpx.Client(timeout=30, trust_env=False) as client:
            for url in urls:
                try:
                    answer = client.get(url)
                    answer.raise_for_status()
                except httpx.HTTPError as exc:
                    raise ValueError(f"witness {url}: {type(exc).__name__}: {exc}") from None
                heads += read_witness_heads(answer.text.splitlines(), name=url, witness_keys=witness_keys)
    return heads


def _verify_stored(settings: Settings, trusted: TrustedKeys, heads: list[Checkpoint], rhythm_from: int) -> VerifyReport:
    from sqlalchemy.exc import SQLAlchemyError

    from suite.audit.ledger import describe_error
    from suite.audit.verify import verify_database
    from suite.db import Database

    audit = settings.audit
    # No migration and no write: verifying a copy leaves it as it was.
    database = Database(settings.database_url)
    try:
        return verify_database(
            database,
            trusted,
            heads=heads,
            every_records=audit.checkpoint_every_records,
            interval_s=audit.checkpoint_every_s,
            rhythm_from=rhythm_from,
        )
    except SQLAlchemyError as exc:
        raise fail(f"Database error ({settings.database_url.split('@')[-1]}): {describe_error(exc)}") from None
    finally:
        database.dispose()


@audit_app.command("purge")
def purge(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be deleted.")] = False,
) -> None:
    """Delete records past their retention (a prefix of the chain; legal holds stop it)."""
    with opened(config) as ctx:
        report = ctx.trail.purge(dry_run=dry_run, actor=getpass.getuser())
        if dry_run or not report.purged:
            # A purge that deleted something records itself; anything else is recorded here.
            details = {"dry_run": dry_run, "purged": report.purged, "stopped_by": report.reason}
            ctx.record("audit_access" if dry_run else "admin", "audit.purge", **details)
    verb = "would delete" if dry_run else "deleted"
    through = f" through seq {report.through_seq}" if report.through_seq is not None else ""
    typer.echo(f"{verb} {report.purged} records{through}; stopped: {report.reason or 'end of the chain'}")


@hold_app.command("add")
def hold_add(
    reason: Annotated[str, typer.Option(help="Why (case or matter reference).")],
    subject: SubjectOption = None,
    time_from: FromOption = None,
    time_to: ToOption = None,
    config: ConfigOption = None,
) -> None:
    """Hold the records of a subject and/or a time range from purging."""
    from suite.audit.retention import LegalHolds

    with opened(config) as ctx:
        hold = LegalHolds(ctx.database).add(
            reason=reason,
            created_by=getpass.getuser(),
            subject=subject,
            time_from=when(time_from),
            time_to=when(time_to),
        )
        ctx.record("admin", "audit.hold.add", hold_id=hold.id, subject=subject, reason=reason)
    typer.echo(f"legal hold {hold.id} added")


@hold_app.command("list")
def hold_list(
    config: ConfigOption = None,
    include_released: Annotated[bool, typer.Option("--all", help="Include released holds.")] = False,
) -> None:
    """List legal holds."""
    from rich.console import Console
    from rich.table import Table

    from suite.audit.retention import LegalHolds

    with opened(config) as ctx:
        holds = LegalHolds(ctx.database).list(include_released=include_released)
    table = Table("id", "subject", "from", "to", "reason", "by", "created", "released")
    for hold in holds:
        times = [t.isoformat(timespec="seconds") if t else "" for t in (hold.time_from, hold.time_to)]
        released = hold.released_at.isoformat(timespec="seconds") if hold.released_at else ""
        created = hold.created_at.isoformat(timespec="seconds")
        table.add_row(str(hold.id), hold.subject or "(all)", *times, hold.reason, hold.created_by, created, released)
    Console().print(table)


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="The hold id shown by `hold list`.")], config: ConfigOption = None
) -> None:
    """Release a legal hold; its records may be purged again once past retention."""
    from suite.audit.retention import LegalHolds

    with opened(config) as ctx:
        hold = LegalHolds(ctx.database).release(hold_id)
        ctx.record("admin", "audit.hold.release", hold_id=hold.id)
    typer.echo(f"legal hold {hold.id} released")


@audit_app.command("rotate-key")
def rotate_key(config: ConfigOption = None) -> None:
    """Sign the head with the current key, then start signing with a new one (old public keys stay)."""
    with opened(config) as ctx:
        key = ctx.trail.rotate_signing_key()
        ctx.record("admin", "audit.rotate_key", key_id=key.key_id)
        key_dir = ctx.trail.keys.key_dir
    typer.echo(f"new signing key {key.key_id} in {key_dir}")


@audit_app.command("export-keys")
def export_keys(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON).")], config: ConfigOption = None
) -> None:
    """Write the public keys with their validity ranges (each key's first checkpoint and its retirement),
    for an external auditor: `suite-verify EXPORT --key-ranges FILE` refuses a checkpoint outside its range."""
    from suite.audit.keys import key_ranges_document
    from suite.audit.verify import key_ranges

    with opened(config) as ctx:
        ctx.record("audit_access", "audit.export_keys")
        try:
            keys = ctx.trail.keys.public_keys()
        except (OSError, ValueError) as exc:
            raise fail(f"FAILED: {exc}", 1) from None
        document = key_ranges_document(keys, key_ranges(ctx.database))
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {out} ({len(keys)} keys)", err=True)


@audit_app.command("forward")
def forward(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Catch up, then exit (default: forward until Ctrl-C).")] = False,
    destination: Annotated[
        list[str] | None, typer.Option("--destination", "-d", help="Only this destination (repeatable).")
    ] = None,
    from_seq: Annotated[
        int | None, typer.Option("--from-seq", min=1, help="Replay: send again from this seq (moves the cursor back).")
    ] = None,
) -> None:
    """Forward the trail to the SIEM destinations in audit.siem, as the gateway does in the background."""
    from suite.audit.siem import SiemForwarder

    settings = settings_of(config)
    known = {d.name for d in settings.audit.siem.destinations}
    if not known:
        raise fail("No SIEM destination is configured (audit.siem.destinations).", 2)
    unknown = sorted(set(destination or ()) - known)
    if unknown:
        raise fail(f"No audit.siem destination named {', '.join(unknown)} (configured: {', '.join(sorted(known))}).", 2)
    with opened(config) as ctx:
        forwarder = SiemForwarder(ctx.settings.audit.siem, ctx.database, data_dir=ctx.settings.data_dir)
        try:
            if from_seq is not None:
                ctx.record("admin", "audit.forward.replay", from_seq=from_seq, destinations=destination)
                forwarder.rewind(from_seq, destination)
            else:
                ctx.record("audit_access", "audit.forward", destinations=destination)
            if not once:
                typer.echo("forwarding; Ctrl-C to stop", err=True)
                with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
                    asyncio.run(forward_until_interrupted(forwarder))
                return
            reports = forwarder.catch_up(destination)
        finally:
            forwarder.close()
    print_forward_reports(reports)
    if any(report.error for report in reports):
        raise typer.Exit(1)
