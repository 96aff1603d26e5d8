"""Which CPUs the gateway and the local CPU engines use, when ``suite up`` runs both on one small machine.

vLLM's CPU build runs the model's forward pass on OpenMP threads, each bound to one CPU, that
meet at a barrier after every step: when another process takes one of those CPUs for a few
milliseconds, every thread waits for it. On a 2-core machine vLLM's own "auto" binding puts its
OpenMP thread on one CPU and leaves the other to its API server and scheduler, but the gateway,
left to the kernel's scheduler, runs on both: its work (HTTP, guardrails, audit, and torch's own
threads once an embedding model is loaded, as many as there are CPUs) keeps preempting the
engine's thread. Measured on such a machine (issue 14): 0.62 of direct throughput and +1.2 s
TTFT p50 at concurrency 8, against about 1.00 with the engine on a CPU of its own.

Design choice: **the gateway gets CPUs of its own, the engines' OpenMP threads the rest**. The
first CPU (two from 9 CPUs on) is the gateway's: ``suite up`` pins itself there and gives torch
and OpenMP in its process that many threads; each local CPU engine binds its OpenMP threads to
the other CPUs (``VLLM_CPU_OMP_THREADS_BIND``) and its processes may run anywhere, so vLLM's API
server and scheduler share the gateway's CPU, as with vLLM's own reservation. An operator's own
``VLLM_CPU_OMP_THREADS_BIND`` in a model's ``engine_env`` wins, and ``serving.cpu_layout:
shared`` leaves everything to the kernel. With a GPU build of vLLM nothing is pinned.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass

import structlog

from suite.config import ServingSettings

log = structlog.get_logger(__name__)

# Up to this many CPUs the gateway gets one of them, above it two.
_ONE_GATEWAY_CPU_UP_TO = 8


@dataclass(frozen=True)
class CpuLayout:
    """The gateway's CPUs and those the local engines' OpenMP threads are bound to."""

    gateway: frozenset[int]
    engines: frozenset[int]

    @property
    def every(self) -> frozenset[int]:
        return self.gateway | self.engines

    def describe(self) -> str:
        """One line for logs and the README: which CPUs do what."""
        return f"gateway on CPU {_cpu_list(self.gateway)}, engines' OpenMP threads on CPU {_cpu_list(self.engines)}"


def plan_cpu_layout(serving: ServingSettings, allowed: frozenset[int], *, cpu_engines: bool) -> CpuLayout | None:
    """The layout for these settings on these CPUs, or None where the kernel should decide.

    ``cpu_engines``: the engines are vLLM's CPU build (a GPU build computes elsewhere).
    """
    local = sum(model.engines for model in serving.models)
    if serving.cpu_layout == "shared" or not cpu_engines or local == 0 or len(allowed) < 2:
        return None
    cpus = sorted(allowed)
    reserved = 1 if len(cpus) <= _ONE_GATEWAY_CPU_UP_TO else 2
    return CpuLayout(gateway=frozenset(cpus[:reserved]), engines=frozenset(cpus[reserved:]))


def vllm_is_cpu_build() -> bool:
    """Whether the installed vLLM is its CPU build (the ``vllm-cpu`` distribution)."""
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


_adopted: CpuLayout | None = None


def adopt_cpu_layout(layout: CpuLayout) -> None:
    """Pin this process (the gateway) to its CPUs and size its thread pools; engines started later follow.

    Call before any thread starts (threads inherit the affinity of the thread that starts them)
    and before torch is imported (it reads OMP_NUM_THREADS once).
    """
    global _adopted  # noqa: PLW0603 -- one layout per process, set once by `suite up` before the app exists
    os.sched_setaffinity(0, layout.gateway)
    threads = str(len(layout.gateway))
    # Without these torch (embeddings, classifier, Llama Guard) starts one OpenMP thread per CPU
    # of the machine, and its idle threads spin for a while after each call.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    _adopted = layout
    log.info("cpu layout", layout=layout.describe())


def engine_cpu_environment(engine_env: dict[str, str]) -> tuple[dict[str, str], frozenset[int] | None]:
    """Environment additions and the process affinity for a local engine under the adopted layout.

    The gateway's thread settings are not the engine's (vLLM sets OpenMP up itself from its binding).
    """
    if _adopted is None or "VLLM_CPU_OMP_THREADS_BIND" in engine_env:
        return {}, None
    return {"VLLM_CPU_OMP_THREADS_BIND": _cpu_list(_adopted.engines)}, _adopted.every


def _cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(map(str, sorted(cpus)))
