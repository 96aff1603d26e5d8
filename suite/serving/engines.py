"""The engines of one model: started, drained and stopped together, all from one model directory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import structlog

from suite.config import EngineModel, Settings
from suite.serving.engine import EngineProcess
from suite.serving.pool import Backend

log = structlog.get_logger(__name__)


class EngineGroup:
    """``model.engines`` vLLM engines serving one model directory on one slot of ports.

    A model has two slots of ports (``slot`` 0 and 1) so that a new version can start on
    the other slot while the current one still serves (blue-green).
    """

    def __init__(
        self, settings: Settings, model: EngineModel, model_dir: Path, *, slot: int, backends: list[Backend]
    ) -> None:
        assert len(backends) == model.engines
        self.model = model
        self.model_dir = model_dir
        self.slot = slot
        self.engines = [
            EngineProcess(
                model=model,
                model_dir=model_dir,
                port=port,
                backend=backend,
                settings=settings.serving,
                log_path=settings.data_dir / "logs" / f"engine-{model.name}-{port}.log",
            )
            for port, backend in zip(slot_ports(model, slot), backends, strict=True)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def backends(self) -> list[Backend]:
        return [engine.backend for engine in self.engines]

    def start(self, client: httpx.AsyncClient) -> None:
        """Start supervising every engine in the background."""
        if not self.model_dir.is_dir():
            log.error("model directory missing", model=self.model.name, path=str(self.model_dir))
        for engine in self.engines:
            self._tasks.append(asyncio.create_task(engine.supervise(client), name=f"engine:{engine.port}"))

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every engine has passed its readiness check; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not all(backend.healthy for backend in self.backends):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)
        return True

    async def drain(self, timeout_s: float) -> None:
        """Wait until no request is in flight on these engines (they no longer get new ones)."""
        deadline = time.monotonic() + timeout_s
        # in_flight is a plain counter the leases keep; polling it is simpler than an event per backend.
        while any(backend.in_flight for backend in self.backends) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if left := sum(backend.in_flight for backend in self.backends):
            log.warning("engines stopped with requests in flight", model=self.model.name, requests=left)

    async def stop(self) -> None:
        """Stop every engine and wait until their processes are gone."""
        await asyncio.gather(*(engine.stop() for engine in self.engines), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def slot_ports(model: EngineModel, slot: int) -> range:
    """The ports of a model's engines on one slot."""
    first = model.base_port + slot * model.engines
    return range(first, first + model.engines)
