"""Engine, sessions and migrations.

Blocking SQLAlchemy calls are run off the event loop on the database's own pool (``Database.run``),
so the same sync engine serves the CLI, the gateway and background writers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from suite.workers import WorkerPool

_T = TypeVar("_T")
_MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    """Base of every table of the suite."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the consoles) run beside the writer; FULL makes every commit survive a power
    # cut, which the audit trail promises (its batching absorbs the extra fsync).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One engine and session factory for a database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The database's own threads: a stalled model on another pool never delays a commit.
        self.workers = WorkerPool("db", 4 if url.startswith("sqlite") else 8)

    def session(self) -> Session:
        """A new session (use as a context manager)."""
        return self.sessions()

    async def run(self, work: Callable[[Session], _T]) -> _T:
        """Run work(session) on the database's worker pool and commit; the event loop never waits on it."""

        def in_thread() -> _T:
            with self.sessions.begin() as session:
                return work(session)

        return await self.workers.run(in_thread)

    def dispose(self) -> None:
        self.workers.close()
        self.engine.dispose()


def migrate(database: Database) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        # Each capability keeps its own branch of migrations (identity, audit, ...): upgrade them all.
        command.upgrade(config, "heads")
