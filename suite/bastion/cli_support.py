"""Helpers of the `suite-bastion` commands: settings, trust policy, the registry, clean failures.

The settings, the database and the registry are imported where they are used, so that
`suite-bastion --help` does not pay for them (see benchmarks/cli_start.py).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suite.errors import SuiteError

if TYPE_CHECKING:
    from suite.bastion.signing import PublicKey
    from suite.bastion.store import ModelStore
    from suite.bastion.verify import TrustPolicy
    from suite.config import Settings
    from suite.db import Database
    from suite.registry import ModelRegistry

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default: the embedded demo configuration).")
]
TrustedKeysOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--trusted-keys", help="Trusted public key (.pub); repeat for several. Default: bastion.trusted_keys."
    ),
]
RequiredOption = Annotated[
    int | None,
    typer.Option("--required-signatures", min=1, help="k of k-of-n. Default: bastion.required_signatures."),
]
DowngradeOption = Annotated[
    bool | None,
    typer.Option("--allow-downgrade", help="Accept a version older than the installed one (default: refused)."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print message in red on stderr and return the Exit to raise."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def actor() -> str:
    """Who runs the command: the OS user (admin actions from the CLI are recorded under it)."""
    return getpass.getuser()


def settings_of(config: Path | None) -> Settings:
    """The settings, or exit 2 naming the bad key."""
    from suite.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def trust_policy(settings: Settings, keys: list[Path] | None, required: int | None) -> TrustPolicy:
    """The keys given on the command line (else the configured ones) and k; exit 2 on an unreadable key."""
    from suite.bastion.signing import load_public_key
    from suite.bastion.verify import TrustPolicy

    paths = keys or [settings.resolve(path) for path in settings.bastion.trusted_keys]
    loaded: list[PublicKey] = []
    for path in paths:
        try:
            loaded.append(load_public_key(path))
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    return TrustPolicy(tuple(loaded), required or settings.bastion.required_signatures)


def install_checks(
    config: Path | None, keys: list[Path] | None, required: int | None, allow_downgrade: bool | None
) -> tuple[Settings, TrustPolicy, bool]:
    """What verify and import check a bundle against: settings, trusted keys and k, and whether downgrades pass."""
    settings = settings_of(config)
    downgrade = settings.bastion.allow_downgrade if allow_downgrade is None else allow_downgrade
    return settings, trust_policy(settings, keys, required), downgrade


@contextmanager
def opened_registry(settings: Settings) -> Iterator[tuple[ModelRegistry, ModelStore]]:
    """The registry (migrated database, audit trail attached) and the model store, for changes."""
    from sqlalchemy.exc import SQLAlchemyError

    from suite.audit import AuditTrail
    from suite.bastion.store import ModelStore
    from suite.db import Database, migrate
    from suite.registry import ModelRegistry

    database = Database(settings.database_url)
    try:
        migrate(database)
        trail = AuditTrail(settings.audit, database, data_dir=settings.data_dir)
        registry = ModelRegistry(database, trail=trail, auth_method="cli")
        yield registry, ModelStore(settings.resolve(settings.bastion.store_dir))
    except SQLAlchemyError as exc:
        raise fail(f"the database at {_safe_url(database)} cannot be used: {exc.__class__.__name__}: {exc}") from None
    finally:
        database.dispose()


@contextmanager
def existing_registry(settings: Settings) -> Iterator[ModelRegistry | None]:
    """The registry for reading when this host has one (the bastion host may not): never creates it."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from suite.db import Database
    from suite.registry import ModelRegistry

    url = settings.database_url
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        yield None
        return
    database = Database(url)
    try:
        has_table = inspect(database.engine).has_table("model_versions")
        yield ModelRegistry(database) if has_table else None
    except SQLAlchemyError as exc:
        raise fail(f"the database at {_safe_url(database)} cannot be read: {exc}") from None
    finally:
        database.dispose()


@contextmanager
def reported() -> Iterator[None]:
    """Turn the suite's domain errors and file problems into a red message and exit 1."""
    try:
        yield
    except SuiteError as exc:
        raise fail(f"refused: {exc.message}") from None
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _safe_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=True)
