"""The machine line every benchmark writes into RESULTS.md.

Machines of one kind differ in CPU generation, and vLLM's CPU kernels (and numpy's) run several
times faster with AVX-512, its BF16/VNNI extensions or AMX: a result without the CPU's flags
cannot be compared with another. So each benchmark names CPUs, model, vector flags, memory and the
load average at the time of writing (other work on a 2-core machine moves every wall-clock number).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["cpu_description", "machine_line"]

# The vector and crypto flags that decide vLLM, numpy and hashing speed, as /proc/cpuinfo names them.
_FLAGS = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_bf16",
    "amx_tile",
    "sha_ni",
)


def _proc_value(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    return None


def cpu_description() -> str:
    """The CPU model and the flags of `_FLAGS` it has, e.g. ``Intel(R) Xeon(R) Processor; flags avx2 avx512f``."""
    model = _proc_value("/proc/cpuinfo", "model name") or "unknown CPU"
    present = set((_proc_value("/proc/cpuinfo", "flags") or "").split())
    flags = [flag for flag in _FLAGS if flag in present]
    return f"{model}; flags {' '.join(flags)}" if flags else f"{model}; no AVX2"


def machine_line() -> str:
    """``N CPUs (model; flags ...), M GiB memory, load average a b c``: all of the machine's CPUs,
    whichever this process is bound to."""
    mem_kib = _proc_value("/proc/meminfo", "MemTotal")
    memory = f"{int(mem_kib.split()[0]) / 1024**2:.1f} GiB memory" if mem_kib else "unknown memory"
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu_description()}), {memory}, load average {load}"
