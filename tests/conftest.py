"""Session fixtures: one real vLLM engine (the demo model) and one gateway in front of it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy
import sqlalchemy.exc

from suite.config import EngineModel, ServingSettings
from suite.db import Base, Database, migrate
from suite.gateway import create_app
from suite.observability import enforce_offline
from suite.serving import Backend, EngineProcess, build_demo_model
from tests.support import (
    DEMO_MODEL_DIR,
    DEV_KEY,
    MODEL,
    BackgroundLoop,
    ServerThread,
    free_port,
    gateway_settings,
    ready,
    wait_until,
)

enforce_offline()

# Small KV cache and eager mode: the engine is ready in about a minute on 2 cores.
TEST_ENGINE_ARGS = ["--max-model-len", "1024", "--max-num-seqs", "32", "--enforce-eager"]
TEST_ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    return build_demo_model(DEMO_MODEL_DIR)


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def vllm_engine(
    demo_model_dir: Path, background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineProcess]:
    """One real vLLM engine serving the demo model, started by the suite's own EngineProcess."""
    port = free_port()
    model = EngineModel(
        name=MODEL, path=demo_model_dir, base_port=port, engine_args=TEST_ENGINE_ARGS, engine_env=TEST_ENGINE_ENV
    )
    settings = ServingSettings(models=[model], startup_timeout_s=600)
    engine = EngineProcess(
        model=model,
        model_dir=demo_model_dir,
        port=port,
        backend=Backend(f"http://127.0.0.1:{port}"),
        settings=settings,
        log_path=tmp_path_factory.mktemp("engine") / "engine.log",
    )

    async def start() -> None:
        async with httpx.AsyncClient() as client:
            await engine.start()
            await engine.wait_ready(client)

    background_loop.run(start(), timeout=660)
    yield engine
    background_loop.run(engine.stop(), timeout=60)


@pytest.fixture(scope="session")
def gateway(vllm_engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The gateway (auth on, embeddings loaded) in front of the real engine."""
    settings = gateway_settings(
        tmp_path_factory.mktemp("gateway"), backends=[vllm_engine.backend.url], embeddings=True, health_interval_s=1
    )
    server = ServerThread(create_app(settings, manage_engines=False)).start()
    wait_until(lambda: ready(server.url), timeout=60, what="gateway ready")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(gateway: ServerThread) -> openai.OpenAI:
    """The official OpenAI client, pointed at the gateway with the dev key."""
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEV_KEY, max_retries=0, timeout=120)


# ---- databases: every store test runs on SQLite and on PostgreSQL -----------------------

# The Unix socket works inside the tests' network namespace, where 127.0.0.1:5432 is out of reach.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run; fails (never skips) when PostgreSQL is absent."""
    name = f"suite_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        pytest.fail(
            "PostgreSQL is needed for these tests and is not reachable on /var/run/postgresql "
            f"(start it with `pg_ctlcluster --skip-systemctl-redirect 15 main start`): {exc}"
        )
    yield POSTGRES_ADMIN_URL.replace("/postgres?", f"/{name}?")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty suite database of each kind."""
    sqlite_url = f"sqlite:///{tmp_path / 'suite.db'}"
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = Database(url)
    migrate(db)
    yield db
    if request.param == "postgresql":
        with db.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    db.dispose()
