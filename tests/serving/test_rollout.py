"""Promotion and rollback of a registry model while requests run: blue-green, no failed request.

Real parts end to end: two versions of the demo model are bundled, signed, verified and
imported through the bastion into a model store and the registry; the supervisor serves
the promoted version with real vLLM engines and follows promotion and rollback.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from suite.audit import AuditTrail
from suite.bastion import ModelStore, TrustPolicy, create_bundle, import_bundle
from suite.bastion.signing import generate_key_pair, load_private_key, load_public_key
from suite.config import AuditSettings, EngineModel, Settings
from suite.db import Database, migrate
from suite.registry import ModelRegistry
from suite.serving import ModelCatalog, Relay
from suite.serving.supervisor import EngineSupervisor
from tests.conftest import TEST_ENGINE_ARGS, TEST_ENGINE_ENV

# Two engines of its own beside the session's: on 2 cores the new engine's start starved while the
# session engine also held a core, so this runs after the other tests, in a process of its own.
pytestmark = [pytest.mark.slow, pytest.mark.isolated]


def _imported_versions(demo_model_dir: Path, work: Path, database: Database) -> ModelRegistry:
    """The demo model imported twice, as versions 1.0.0 and 1.1.0 of "assistant"; 1.0.0 serving."""
    private, public = generate_key_pair(work / "keys", "release")
    registry = ModelRegistry(database, trail=AuditTrail(AuditSettings(), database, data_dir=work), auth_method="test")
    store = ModelStore(work / "store")
    policy = TrustPolicy((load_public_key(public),), 1)
    for version in ("1.0.0", "1.1.0"):
        bundle = work / f"assistant-{version}.tar"
        create_bundle(
            demo_model_dir, bundle, keys=[load_private_key(private)], name="assistant", version=version, creator="ci"
        )
        import_bundle(bundle, policy=policy, store=store, registry=registry, actor="admin")
        bundle.unlink()
    registry.promote("assistant", "1.0.0", actor="admin")
    return registry


def _free_port_pair() -> int:
    for port in range(23000, 60000, 7):
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no two free ports in a row")


async def _keep_asking(relay: Relay, catalog: ModelCatalog, stop: asyncio.Event, served: Counter[str]) -> None:
    body = json.dumps({"model": "assistant", "prompt": "Once upon a time", "max_tokens": 4}).encode()
    pool = catalog.pool_for("assistant")
    while not stop.is_set():
        reply = await relay.post(pool, "/v1/completions", body, request_id="rollout-test")
        assert reply.status_code == 200, reply.content
        served[reply.backend] += 1
        # Steady traffic, not a flood: on 2 cores a saturated old engine would starve the new one's start.
        await asyncio.sleep(0.3)


async def _engine_root(client: httpx.AsyncClient, url: str) -> str:
    models = (await client.get(f"{url}/v1/models")).json()
    root: str = models["data"][0]["root"]
    return root


async def test_promotion_and_rollback_switch_engines_without_a_failed_request(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'suite.db'}")
    migrate(database)
    registry = _imported_versions(demo_model_dir, tmp_path, database)
    first, second = registry.get("assistant", "1.0.0").path, registry.get("assistant", "1.1.0").path
    port = _free_port_pair()
    model = EngineModel(
        name="assistant",
        source="registry",
        base_port=port,
        engine_args=TEST_ENGINE_ARGS,
        # Unbound OpenMP threads: with vLLM's default binding both versions' workers sit on core 0, and
        # the new one's start stalled there behind the old one's serving.
        engine_env={**TEST_ENGINE_ENV, "VLLM_CPU_OMP_THREADS_BIND": "nobind"},
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        serving={"models": [model], "startup_timeout_s": 600, "drain_timeout_s": 60},
    )
    catalog = ModelCatalog(settings.serving)
    supervisor = EngineSupervisor(settings, catalog, registry)
    async with httpx.AsyncClient(trust_env=False) as client:
        relay = Relay(settings.serving, client)
        await supervisor.start(client)
        try:
            assert await supervisor.groups["assistant"].wait_ready(600)
            old_engine = supervisor.groups["assistant"].engines[0]
            assert await _engine_root(client, old_engine.backend.url) == str(first)

            stop = asyncio.Event()
            served: Counter[str] = Counter()
            askers = [asyncio.create_task(_keep_asking(relay, catalog, stop, served)) for _ in range(2)]

            registry.promote("assistant", "1.1.0", actor="admin")
            await supervisor.sync_with_registry()
            new_engine = supervisor.groups["assistant"].engines[0]
            await asyncio.sleep(3)  # traffic on the new version only
            stop.set()
            await asyncio.gather(*askers)  # any failed request fails the test here

            assert new_engine.port == port + 1
            assert await _engine_root(client, new_engine.backend.url) == str(second)
            assert old_engine.pid is not None
            assert old_engine.backend not in catalog.pool_for("assistant").backends
            assert _gone(old_engine.pid), "the old version's engine still runs"
            assert served[old_engine.backend.url] > 0, served
            assert served[new_engine.backend.url] > 0, served

            # Rollback: back to the first directory, on the first slot again, still without a failed request.
            stop.clear()
            served.clear()
            askers = [asyncio.create_task(_keep_asking(relay, catalog, stop, served)) for _ in range(2)]
            assert registry.rollback("assistant", actor="admin").version == "1.0.0"
            await supervisor.sync_with_registry()
            stop.set()
            await asyncio.gather(*askers)
            rolled_back = supervisor.groups["assistant"].engines[0]
            assert rolled_back.port == port
            assert await _engine_root(client, rolled_back.backend.url) == str(first)
            assert _gone(new_engine.pid or 0)
        finally:
            await supervisor.stop()
            database.dispose()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
