"""`suite ingest`, `suite collections ...` and `suite rag eval`: RAG administration from the shell.

Each command opens the vector store itself. The embedded store (Qdrant Edge) is held by one
process: while `suite up` runs, `suite ingest --gateway` lets the gateway ingest (paths under
``rag.ingest_roots``); otherwise stop it first, or configure a Qdrant server (``rag.qdrant_url``),
which gateway and CLI share. An interrupted `suite ingest` continues where it stopped when run
again (suite.rag.ingest); afterwards it builds the engine's indexes (rag.optimize_after_ingest).
Ingesting and changing collections are admin actions and leave an audit record.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from suite.errors import RestoreFailed, SuiteError

if TYPE_CHECKING:  # the settings (pydantic) and rich's widgets load in the commands: `suite --help` starts fast
    from rich.progress import Progress

    from suite.config import Settings

_T = TypeVar("_T")

collections_app = typer.Typer(help="Knowledge collections for RAG (admin).", no_args_is_help=True)
rag_app = typer.Typer(help="RAG tools.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default: the embedded demo configuration).")
]
CollectionOption = Annotated[str, typer.Option("--collection", help="The knowledge collection.")]
_DEFAULT_GROUPS = "Groups that may read documents without an ACL of their own (sidecar or mapping)."
_DEFAULT_USERS = "Subjects that may read documents without an ACL of their own."


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    from suite.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None


def _run(settings: Settings, work: Callable[[Any], Awaitable[_T]], *, model: bool) -> _T:
    """Open RAG (and the embedding model when needed), run work, close; domain errors become messages."""
    from suite.auth import Policy
    from suite.embeddings import EmbeddingService
    from suite.observability import configure_logging, enforce_offline
    from suite.rag.service import RagService

    enforce_offline()
    configure_logging(settings.logging)

    async def main() -> _T:
        embeddings = EmbeddingService(settings)
        rag = RagService(settings, embeddings, Policy(settings.identity.policy))
        try:
            if model:
                await embeddings.load()
            await rag.open()
            return await work(rag)
        finally:
            rag.close()
            embeddings.close()

    try:
        return asyncio.run(main())
    except RestoreFailed as exc:
        raise _fail(f"Verification failed: {exc.message}", 3) from None
    except SuiteError as exc:
        raise _fail(exc.message) from None


def _audit(settings: Settings, action: str, details: dict[str, Any]) -> None:
    from suite.audit import AuditEvent, AuditTrail
    from suite.db import Database, migrate

    database = Database(settings.database_url)
    try:
        migrate(database)
        trail = AuditTrail(settings.audit, database, data_dir=settings.data_dir)
        event = AuditEvent(
            event_class="admin",
            action=action,
            subject=getpass.getuser(),
            auth_method="cli",
            collections=[details["collection"]] if "collection" in details else [],
            details=details,
        )
        trail.record_sync(event)
    except SuiteError as exc:
        raise _fail(exc.message) from None
    finally:
        database.dispose()


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def ingest(
    path: Annotated[Path, typer.Argument(help="A folder, a file, or a Confluence HTML space export (.zip).")],
    collection: CollectionOption,
    groups: Annotated[list[str] | None, typer.Option("--groups", help=_DEFAULT_GROUPS)] = None,
    users: Annotated[list[str] | None, typer.Option("--users", help=_DEFAULT_USERS)] = None,
    acl_map: Annotated[Path | None, typer.Option("--acl-map", help="Mapping file: path globs to an ACL.")] = None,
    classification: Annotated[str, typer.Option(help="Classification of documents without their own.")] = "internal",
    create: Annotated[bool, typer.Option("--create", help="Create the collection if it does not exist.")] = False,
    gateway: Annotated[
        bool, typer.Option("--gateway", help="Let the running gateway ingest (path under rag.ingest_roots).")
    ] = False,
    url: Annotated[str | None, typer.Option(help="With --gateway: its base URL (default: from settings).")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="SUITE_API_KEY", help="With --gateway: an admin's API key or access token.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Ingest documents incrementally: unchanged files skipped, changed replaced, deleted removed."""
    from suite.rag.connectors import AclEntry, Connector, open_source

    settings = _settings(config)
    if not path.exists():
        raise _fail(f"{path}: no such file or folder", 2)
    try:
        default = AclEntry.model_validate(
            {"groups": _split(groups), "users": _split(users), "classification": classification}
        )
    except ValueError as exc:
        raise _fail(f"Invalid ACL options: {exc}", 2) from None
    if gateway:
        request = {
            "path": str(path.resolve()),
            **default.model_dump(),
            "acl_map": str(acl_map.resolve()) if acl_map else None,
            "create": create,
        }
        base = url or f"http://127.0.0.1:{settings.gateway.port}"
        _print_report(ingest_via_gateway(base, collection, request, api_key=api_key))
        return
    try:
        connector: Connector = open_source(path, default=default, mapping=acl_map)
        documents = list(connector.documents())
    except SuiteError as exc:
        raise _fail(exc.message, 2) from None

    async def work(rag: Any) -> Any:
        if create and not await rag.store.exists(collection):
            await rag.create_collection(collection)
        optimize = settings.rag.optimize_after_ingest
        with _progress() as progress:
            task = progress.add_task(f"ingesting into {collection}", total=len(documents), chunks=0, rate=0.0)

            def advance(step: Any) -> None:
                last = step.documents == step.total
                described = "storing and indexing" if last and optimize else f"ingesting into {collection}"
                progress.update(
                    task, completed=step.documents, chunks=step.chunks, rate=step.chunks_per_s, description=described
                )

            return await rag.ingest(collection, documents, scope=connector.scope, advance=advance, optimize=optimize)

    report = _run(settings, work, model=True)
    _audit(settings, "ingest", {"collection": collection, "source": connector.scope, **report.summary()})
    _print_report({"summary": report.summary(), "failed": report.failed, "without_acl": report.without_acl})


def ingest_via_gateway(base: str, collection: str, request: dict[str, Any], *, api_key: str | None) -> dict[str, Any]:
    """Ask the gateway to ingest (POST /v1/admin/collections/NAME/ingest), showing its progress; its result."""
    import httpx

    if not api_key:
        raise _fail("--gateway needs an admin's credential: --api-key or SUITE_API_KEY (dev: `suite token adam`).", 2)
    endpoint = f"{base.rstrip('/')}/v1/admin/collections/{collection}/ingest"
    headers = {"authorization": f"Bearer {api_key}"}
    try:
        timeout = httpx.Timeout(30, read=None)  # an ingest may take long between progress lines
        with httpx.stream("POST", endpoint, json=request, headers=headers, timeout=timeout) as reply:
            if reply.status_code != 200:
                reply.read()
                raise _fail(f"The gateway refused: {reply.status_code} {_error_message(reply.text)}")
            with _progress() as progress:
                task = progress.add_task(f"ingesting into {collection}", total=None, chunks=0, rate=0.0)
                for line in reply.iter_lines():
                    event = json.loads(line)
                    if "error" in event:
                        raise _fail(f"The ingest failed: {event['error']['message']}")
                    if event.get("object") == "ingest.progress":
                        seconds = event.get("seconds") or 0
                        rate = event.get("chunks", 0) / seconds if seconds else 0.0
                        progress.update(
                            task,
                            completed=event["done"],
                            total=event["total"],
                            chunks=event.get("chunks", 0),
                            rate=rate,
                        )
                    elif event.get("object") == "ingest.result":
                        result: dict[str, Any] = event
                        return result
    except httpx.HTTPError:
        raise _fail(f"Cannot reach the gateway at {base}; is `suite up` running?") from None
    raise _fail("The gateway ended the ingest stream without a result; see its log.")


def _error_message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text[:200]


def _progress() -> Progress:
    """Documents done of all, chunks stored so far and their rate, time elapsed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("documents, {task.fields[chunks]} chunks, {task.fields[rate]:.1f} chunks/s"),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=Console(stderr=True), transient=True)


def _print_report(result: dict[str, Any]) -> None:
    for uri, reason in result["failed"].items():
        typer.secho(f"skipped {uri}: {reason}", err=True, fg=typer.colors.YELLOW)
    if result["without_acl"]:
        typer.secho(
            f"{len(result['without_acl'])} document(s) have no ACL and are readable by no one "
            "(give --groups/--users, a sidecar or a mapping file, and ingest again)",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(" ".join(f"{key}={value}" for key, value in result["summary"].items()))


@collections_app.command("list")
def collections_list(config: ConfigOption = None) -> None:
    """List the knowledge collections."""
    for name in _run(_settings(config), lambda rag: rag.collections(), model=False):
        typer.echo(name)


@collections_app.command("create")
def collections_create(name: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Create an empty knowledge collection."""
    settings = _settings(config)
    _run(settings, lambda rag: rag.create_collection(name), model=True)
    _audit(settings, "collections.create", {"collection": name})
    typer.echo(f"created {name}")


@collections_app.command("delete")
def collections_delete(
    name: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete a collection and every chunk in it."""
    settings = _settings(config)
    if not yes:
        typer.confirm(f"Delete the collection {name!r} and all its chunks?", abort=True)
    _run(settings, lambda rag: rag.delete_collection(name), model=False)
    _audit(settings, "collections.delete", {"collection": name})
    typer.echo(f"deleted {name}")


@collections_app.command("stats")
def collections_stats(name: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Documents, chunks and vector size of a collection."""
    from rich.console import Console
    from rich.table import Table

    settings = _settings(config)
    stats = _run(settings, lambda rag: rag.stats(name), model=False)
    table = Table("collection", "documents", "chunks", "vector size", "hybrid")
    hybrid = "yes" if settings.rag.hybrid_for(name) else "no"
    table.add_row(stats.name, str(stats.documents), str(stats.chunks), str(stats.vector_size), hybrid)
    Console().print(table)


@rag_app.command("eval")
def rag_eval(
    k: Annotated[int, typer.Option(min=1, max=50, help="Recall at this many results.")] = 5,
    questions: Annotated[Path | None, typer.Option(help="Labelled questions (default: the shipped set).")] = None,
    samples: Annotated[Path | None, typer.Option(help="Documents (default: the shipped samples).")] = None,
    dense_only: Annotated[bool, typer.Option("--dense-only", help="Dense retrieval only (no RRF).")] = False,
    min_recall: Annotated[float, typer.Option(help="Exit 1 below this recall.")] = 0.0,
    config: ConfigOption = None,
) -> None:
    """Recall@k of the labelled German and English question set over the sample documents."""
    from suite.observability import enforce_offline
    from suite.rag.evaluation import QUESTIONS_FILE, SAMPLES_DIR, evaluate, load_questions

    settings = _settings(config)
    enforce_offline()
    asked = load_questions(questions or QUESTIONS_FILE)
    hybrid = False if dense_only else None
    try:
        result = asyncio.run(evaluate(settings, questions=asked, samples=samples or SAMPLES_DIR, k=k, hybrid=hybrid))
    except SuiteError as exc:
        raise _fail(exc.message) from None
    for miss in result.misses:
        typer.echo(f"miss [{miss.lang}] {miss.question} (expected {miss.expected})")
    for lang in sorted(result.totals):
        typer.echo(f"recall@{k} {lang}: {result.recall_of(lang):.3f} ({result.hits[lang]}/{result.totals[lang]})")
    typer.echo(f"recall@{k}: {result.recall:.3f} over {sum(result.totals.values())} questions")
    if result.recall < min_recall:
        raise _fail(f"recall@{k} {result.recall:.3f} is below --min-recall {min_recall}")


@collections_app.command("snapshot")
def collections_snapshot(
    name: Annotated[str, typer.Argument()],
    out: Annotated[Path, typer.Option("--out", "-o", help="The snapshot file to write (.jsonl.gz).")],
    config: ConfigOption = None,
) -> None:
    """Write a collection (vectors, payloads, ACLs) to an engine-neutral snapshot file."""
    from suite.rag.backup import snapshot

    settings = _settings(config)
    report = _run(settings, lambda rag: snapshot(rag.store, name, out), model=False)
    _audit(settings, "collections.snapshot", {"collection": name, "file": str(out), "chunks": report.chunks})
    typer.echo(f"snapshot {name}: {report.documents} documents, {report.chunks} chunks -> {out}")


@collections_app.command("restore")
def collections_restore(
    snapshot_file: Annotated[Path, typer.Argument(help="A file written by `suite collections snapshot`.")],
    name: Annotated[str | None, typer.Option("--as", help="Restore under this name (default: the original).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a collection of that name.")] = False,
    config: ConfigOption = None,
) -> None:
    """Recreate a collection from a snapshot, verified by counts and a sample query."""
    from suite.rag.backup import restore

    settings = _settings(config)
    if not snapshot_file.is_file():
        raise _fail(f"{snapshot_file}: no such file", 2)
    report = _run(settings, lambda rag: restore(rag.store, snapshot_file, name=name, replace=replace), model=False)
    _audit(settings, "collections.restore", {"collection": report.collection, "file": str(snapshot_file)})
    typer.echo(f"restored {report.collection}: {report.documents} documents, {report.chunks} chunks (verified)")


@collections_app.command("migrate")
def collections_migrate(
    name: Annotated[str, typer.Argument()],
    from_path: Annotated[
        Path | None, typer.Option("--from-path", help="The local-mode store (default: rag.qdrant_path).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a collection of that name.")] = False,
    config: ConfigOption = None,
) -> None:
    """Copy a collection from qdrant-client local mode (earlier releases) into the configured store."""
    from suite.rag.backup import copy
    from suite.rag.server import ServerBackend
    from suite.rag.store import KnowledgeStore

    settings = _settings(config)
    path = from_path or settings.resolve(settings.rag.qdrant_path)
    if not path.is_dir():
        raise _fail(f"{path}: no local-mode store there", 2)

    async def work(rag: Any) -> Any:
        source = KnowledgeStore(ServerBackend.open_local(path))
        try:
            return await copy(source, rag.store, name, replace=replace)
        finally:
            source.close()

    report = _run(settings, work, model=False)
    _audit(settings, "collections.migrate", {"collection": name, "source": str(path), "chunks": report.chunks})
    typer.echo(f"migrated {name}: {report.documents} documents, {report.chunks} chunks (counts checked)")


@collections_app.command("optimize")
def collections_optimize(name: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Build the engine's vector and payload indexes for a collection's new points (minutes at 100k chunks)."""
    changed = _run(_settings(config), lambda rag: rag.store.optimize(name), model=False)
    typer.echo(f"optimized {name}" if changed else f"{name} was already optimized")
