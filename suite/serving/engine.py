"""One vLLM engine as a supervised child process.

The engine is vLLM's own OpenAI server (``python -m vllm.entrypoints.openai.api_server``),
the CPU build here and the GPU build in production: the same command either way. It
runs in a session of its own, so that stopping it takes its worker processes too, and
it is told by the kernel (PR_SET_PDEATHSIG) to stop if the suite dies without warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import structlog

from suite.config import EngineModel, ServingSettings
from suite.observability import OFFLINE_ENV
from suite.serving.cpus import engine_cpu_environment
from suite.serving.pool import Backend

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup(affinity: frozenset[int] | None) -> Callable[[], None]:
    def setup() -> None:
        _die_with_parent()
        if affinity is not None:
            os.sched_setaffinity(0, affinity)  # not the gateway's CPU alone, which it inherited

    return setup


class EngineProcess:
    """Starts, watches and restarts one vLLM engine; keeps its Backend's health in step."""

    def __init__(
        self,
        *,
        model: EngineModel,
        model_dir: Path,
        port: int,
        backend: Backend,
        settings: ServingSettings,
        log_path: Path,
    ) -> None:
        self.model = model
        self.model_dir = model_dir
        self.port = port
        self.backend = backend
        self._settings = settings
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The engine's command line."""
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            self.model.name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--disable-uvicorn-access-log",
            "--uvicorn-log-level",
            "warning",
            *self.model.engine_args,
        ]

    async def start(self) -> None:
        """Spawn the engine process (does not wait for it to be ready)."""
        placement, affinity = engine_cpu_environment(self.model.engine_env)
        env = {**os.environ, **OFFLINE_ENV, **placement, **self.model.engine_env}
        if affinity is not None:
            # The gateway's thread counts and CPU are its own; vLLM sizes OpenMP from its binding.
            env = {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_child_setup(affinity),
            )
        log.info("engine started", model=self.model.name, port=self.port, pid=self._process.pid)

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        """Poll the engine's /health until it answers 200; raise if it exits or times out first."""
        deadline = time.monotonic() + self._settings.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.returncode is not None:
                raise RuntimeError(f"engine for {self.model.name} exited during start-up; see {self._log_path}")
            try:
                response = await client.get(f"{self.backend.url}/health", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1)
        raise TimeoutError(f"engine for {self.model.name} not ready after {self._settings.startup_timeout_s}s")

    async def supervise(self, client: httpx.AsyncClient) -> None:
        """Run the engine until stop(): start, wait ready, and restart with backoff whenever it dies."""
        backoff = self._settings.restart_backoff_initial_s
        while not self._stopping:
            started = time.monotonic()
            try:
                await self.start()
                await self.wait_ready(client)
                self.backend.record_health(True)
                log.info(
                    "engine ready", model=self.model.name, port=self.port, seconds=round(time.monotonic() - started)
                )
                assert self._process is not None
                await self._process.wait()
            except (RuntimeError, TimeoutError, OSError) as exc:
                log.error("engine failed", model=self.model.name, port=self.port, error=str(exc))
            self.backend.mark_down()
            await self._terminate()
            if self._stopping:
                return
            # An engine that ran a good while before dying starts over with a short wait.
            if time.monotonic() - started > 10 * self._settings.restart_backoff_max_s:
                backoff = self._settings.restart_backoff_initial_s
            log.warning("engine exited, restarting", model=self.model.name, port=self.port, in_seconds=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._settings.restart_backoff_max_s)
            self.restarts += 1

    async def stop(self) -> None:
        """Stop the engine and every process it started (SIGTERM, then SIGKILL after 15 s)."""
        self._stopping = True
        await self._terminate()

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            _kill_group(process, signal.SIGKILL)  # workers left behind by a crashed server
            return
        _kill_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            log.warning("engine did not stop in time, killing", model=self.model.name, pid=process.pid)
        _kill_group(process, signal.SIGKILL)
        await process.wait()


def _kill_group(process: asyncio.subprocess.Process | None, sig: signal.Signals) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
