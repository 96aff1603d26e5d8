"""Starts the configured engines, keeps them running, and stops them all on shutdown."""

from __future__ import annotations

import asyncio

import httpx
import structlog

from suite.config import Settings
from suite.serving.catalog import ModelCatalog, engine_url
from suite.serving.engine import EngineProcess

log = structlog.get_logger(__name__)


class EngineSupervisor:
    """Owns one EngineProcess per configured engine."""

    def __init__(self, settings: Settings, catalog: ModelCatalog) -> None:
        self.engines: list[EngineProcess] = []
        for model in settings.serving.models:
            if model.engines == 0:
                continue
            assert model.path is not None  # the settings validator requires it
            model_dir = settings.resolve(model.path)
            for index in range(model.engines):
                url = engine_url(model, index)
                backend = catalog.backend(url)
                assert backend is not None
                self.engines.append(
                    EngineProcess(
                        model=model,
                        model_dir=model_dir,
                        port=model.base_port + index,
                        backend=backend,
                        settings=settings.serving,
                        log_path=settings.data_dir / "logs" / f"engine-{model.name}-{index}.log",
                    )
                )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, client: httpx.AsyncClient) -> None:
        """Start supervising every engine in the background."""
        for engine in self.engines:
            if not engine.model_dir.is_dir():
                log.error("model directory missing", model=engine.model.name, path=str(engine.model_dir))
            self._tasks.append(asyncio.create_task(engine.supervise(client), name=f"engine:{engine.port}"))

    async def stop(self) -> None:
        """Stop every engine and wait until their processes are gone."""
        await asyncio.gather(*(engine.stop() for engine in self.engines), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        log.info("engines stopped", count=len(self.engines))
