"""The served models: names and aliases mapped to pools, kept healthy by periodic probes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx
import structlog

from suite.config import EngineModel, ServingSettings
from suite.errors import ModelNotFound
from suite.serving.pool import Backend, Pool

log = structlog.get_logger(__name__)


def engine_url(model: EngineModel, index: int, *, slot: int = 0) -> str:
    """Base URL of the index-th engine the supervisor starts for a model (on one of its port slots)."""
    return f"http://127.0.0.1:{model.base_port + slot * model.engines + index}"


class ModelCatalog:
    """Every served model by name and alias, with the pool behind it."""

    def __init__(self, settings: ServingSettings) -> None:
        self._settings = settings
        self._pools: dict[str, Pool] = {}
        self._by_name: dict[str, Pool] = {}
        for model in settings.models:
            urls = [engine_url(model, i) for i in range(model.engines)] + [url.rstrip("/") for url in model.backends]
            pool = Pool(model.name, [self.new_backend(url) for url in urls])
            self._pools[model.name] = pool
            for name in (model.name, *model.aliases):
                self._by_name[name] = pool

    @property
    def pools(self) -> Iterable[Pool]:
        return self._pools.values()

    @property
    def names(self) -> list[str]:
        """Model names and aliases, as /v1/models lists them."""
        return list(self._by_name)

    def pool_for(self, model: str) -> Pool:
        """The pool serving a model name or alias; ModelNotFound otherwise."""
        try:
            return self._by_name[model]
        except KeyError:
            raise ModelNotFound(model) from None

    def model_of(self, name: str) -> str | None:
        """The model a name or alias stands for, or None when nothing is served under it."""
        pool = self._by_name.get(name)
        return pool.model if pool is not None else None

    def new_backend(self, url: str) -> Backend:
        """A backend with the configured circuit breaker (not yet healthy, in no pool)."""
        return Backend(url, threshold=self._settings.circuit_failure_threshold, open_s=self._settings.circuit_open_s)

    def backend(self, url: str) -> Backend | None:
        for pool in self._pools.values():
            for backend in pool.backends:
                if backend.url == url:
                    return backend
        return None

    @property
    def ready(self) -> bool:
        """Every configured model has at least one backend that answered its last probe."""
        return all(pool.ready for pool in self._pools.values())

    async def probe_all(self, client: httpx.AsyncClient) -> None:
        """Probe every backend once, concurrently."""
        backends = [b for pool in self._pools.values() for b in pool.backends]
        await asyncio.gather(*(self._probe(client, b) for b in backends))

    async def run_health_checks(self, client: httpx.AsyncClient) -> None:
        """Probe every backend every health_interval_s, forever (cancel to stop)."""
        while True:
            await self.probe_all(client)
            await asyncio.sleep(self._settings.health_interval_s)

    async def _probe(self, client: httpx.AsyncClient, backend: Backend) -> None:
        try:
            # A loaded engine may answer slowly; connecting is what must be quick.
            timeout = httpx.Timeout(5.0, connect=self._settings.connect_timeout_s)
            response = await client.get(f"{backend.url}/health", timeout=timeout)
            passed = response.status_code == 200
        except httpx.HTTPError:
            passed = False
        if passed != backend.healthy:
            log.info("backend health changed", backend=backend.url, healthy=passed)
        backend.record_health(passed)
