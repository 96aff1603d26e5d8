"""Starts the configured engines, keeps them running, switches registry models between versions,
and stops them all on shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

import httpx
import structlog

from suite.config import EngineModel, Settings
from suite.serving.catalog import ModelCatalog, engine_url
from suite.serving.engine import EngineProcess
from suite.serving.engines import EngineGroup

log = structlog.get_logger(__name__)


class ModelVersions(Protocol):
    """Where registry models come from: the model registry, seen from the serving layer."""

    def revision(self) -> int:
        """A number that changes whenever any model's serving version changes."""
        ...

    def serving_dir(self, model: str) -> Path | None:
        """The directory of the version serving a model now, or None if none is promoted."""
        ...


class EngineSupervisor:
    """Owns the engine group of every configured model."""

    def __init__(self, settings: Settings, catalog: ModelCatalog, versions: ModelVersions | None = None) -> None:
        self._settings = settings
        self._catalog = catalog
        self._versions = versions
        self._models = [m for m in settings.serving.models if m.engines > 0]
        self.groups: dict[str, EngineGroup] = {}
        self._client: httpx.AsyncClient | None = None
        self._switching = asyncio.Lock()
        self._revision: int | None = None

    @property
    def engines(self) -> list[EngineProcess]:
        """Every engine process currently run for the configured models."""
        return [engine for group in self.groups.values() for engine in group.engines]

    async def start(self, client: httpx.AsyncClient) -> None:
        """Start supervising every model's engines in the background (registry models: the serving version)."""
        self._client = client
        for model in self._models:
            model_dir = await self._model_dir(model)
            if model_dir is None:
                log.warning("no version of the model is promoted yet; not serving it", model=model.name)
                continue
            backends = [self._catalog.backend(engine_url(model, i)) for i in range(model.engines)]
            group = EngineGroup(self._settings, model, model_dir, slot=0, backends=[b for b in backends if b])
            group.start(client)
            self.groups[model.name] = group

    async def follow_registry(self) -> None:
        """Keep registry models on the version the registry serves; checks every registry_poll_s (cancel to stop)."""
        if self._versions is None or not any(m.source == "registry" for m in self._models):
            return
        while True:
            await asyncio.sleep(self._settings.serving.registry_poll_s)
            try:
                await self.sync_with_registry()
            except Exception:  # a database hiccup must not end the loop
                log.exception("could not check the model registry")

    async def sync_with_registry(self) -> None:
        """One check: switch every registry model whose serving version changed."""
        assert self._versions is not None
        revision = await asyncio.to_thread(self._versions.revision)
        if revision == self._revision:
            return
        self._revision = revision
        for model in self._models:
            if model.source != "registry":
                continue
            model_dir = await self._model_dir(model)
            current = self.groups.get(model.name)
            if (current.model_dir if current else None) != model_dir:
                await self.switch(model, model_dir)

    async def switch(self, model: EngineModel, model_dir: Path | None) -> bool:
        """Serve another version of a model: blue-green when configured, else stop then start.

        Returns False (and keeps the current version serving) when the new engines do not become ready.
        """
        assert self._client is not None, "start() first"
        async with self._switching:
            current = self.groups.get(model.name)
            pool = self._catalog.pool_for(model.name)
            if model_dir is None:
                if current:
                    await self._retire(model, current, drain=True)
                return True
            slot = (1 - current.slot) if current and model.slots == 2 else 0
            if current and model.slots == 1:  # restart: the old engines go first
                await self._retire(model, current, drain=True)
                current = None
            backends = [self._catalog.new_backend(engine_url(model, i, slot=slot)) for i in range(model.engines)]
            successor = EngineGroup(self._settings, model, model_dir, slot=slot, backends=backends)
            log.info("switching model version", model=model.name, path=str(model_dir), slot=slot)
            # The new engines join the pool at once but take requests only once their health check passes.
            pool.replace([], successor.backends)
            successor.start(self._client)
            if not await successor.wait_ready(self._settings.serving.startup_timeout_s):
                log.error("new model version did not become ready; keeping the old one", model=model.name)
                pool.replace(successor.backends, [])
                await successor.stop()
                return False
            self.groups[model.name] = successor
            if current:
                await self._retire(model, current, drain=True)
            log.info("model version serving", model=model.name, path=str(model_dir))
            return True

    async def _retire(self, model: EngineModel, group: EngineGroup, *, drain: bool) -> None:
        # Out of the pool first, so that no new request goes there; then let running ones finish.
        self._catalog.pool_for(model.name).replace(group.backends, [])
        if drain:
            await group.drain(self._settings.serving.drain_timeout_s)
        await group.stop()
        if self.groups.get(model.name) is group:
            del self.groups[model.name]

    async def stop(self) -> None:
        """Stop every engine and wait until their processes are gone."""
        groups = list(self.groups.values())
        await asyncio.gather(*(group.stop() for group in groups), return_exceptions=True)
        log.info("engines stopped", count=sum(len(g.engines) for g in groups))

    async def _model_dir(self, model: EngineModel) -> Path | None:
        if model.source != "registry":
            assert model.path is not None  # the settings validator requires it
            return self._settings.resolve(model.path)
        if self._versions is None:
            log.error("model is served from the registry but no registry is available", model=model.name)
            return None
        return await asyncio.to_thread(self._versions.serving_dir, model.name)
