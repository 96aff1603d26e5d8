"""The CPU layout `suite up` chooses for the gateway and the local CPU engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from suite.config import EngineModel, ServingSettings
from suite.serving import CpuLayout, plan_cpu_layout


def _serving(engines: int = 1, **fields: object) -> ServingSettings:
    model = (
        EngineModel(name="m", path="models/m", engines=engines)
        if engines
        else EngineModel(name="m", engines=0, backends=["http://127.0.0.1:9"])
    )
    return ServingSettings(models=[model], **fields)  # type: ignore[arg-type]


def test_a_small_machine_gives_the_gateway_one_cpu_and_the_engine_the_rest() -> None:
    assert plan_cpu_layout(_serving(), frozenset({0, 1}), cpu_engines=True) == CpuLayout(
        gateway=frozenset({0}), engines=frozenset({1})
    )
    assert plan_cpu_layout(_serving(), frozenset({2, 3, 5, 7}), cpu_engines=True) == CpuLayout(
        gateway=frozenset({2}), engines=frozenset({3, 5, 7})
    )
    big = plan_cpu_layout(_serving(), frozenset(range(16)), cpu_engines=True)
    assert big is not None
    assert big.gateway == frozenset({0, 1})


def test_nothing_is_pinned_where_the_kernel_should_decide() -> None:
    cpus = frozenset({0, 1})
    assert plan_cpu_layout(_serving(), cpus, cpu_engines=False) is None  # a GPU build
    assert plan_cpu_layout(_serving(engines=0), cpus, cpu_engines=True) is None  # external backends only
    assert plan_cpu_layout(_serving(cpu_layout="shared"), cpus, cpu_engines=True) is None
    assert plan_cpu_layout(_serving(), frozenset({0}), cpu_engines=True) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_gateway_is_pinned_and_an_engine_binds_openmp_to_the_other_cpus() -> None:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    # In a child process, so that this test process stays unpinned: adopt the layout as `suite up`
    # does, then start a process as an engine is started and report what it got.
    script = textwrap.dedent(
        f"""
        import json, os, subprocess, sys
        from suite.serving import CpuLayout, adopt_cpu_layout
        from suite.serving.cpus import engine_cpu_environment
        from suite.serving.engine import _child_setup
        adopt_cpu_layout(CpuLayout(gateway=frozenset({{{cpus[0]}}}), engines=frozenset({{{cpus[1]}}})))
        placement, affinity = engine_cpu_environment({{}})
        operator, _ = engine_cpu_environment({{"VLLM_CPU_OMP_THREADS_BIND": "nobind"}})
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            preexec_fn=_child_setup(affinity), capture_output=True, text=True, check=True,
        )
        print(json.dumps({{
            "gateway": sorted(os.sched_getaffinity(0)), "omp": os.environ.get("OMP_NUM_THREADS"),
            "placement": placement, "operator": operator, "engine": json.loads(child.stdout),
        }}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["gateway"] == [cpus[0]]
    assert seen["omp"] == "1"
    assert seen["placement"] == {"VLLM_CPU_OMP_THREADS_BIND": str(cpus[1])}
    assert seen["operator"] == {}  # an operator's own binding wins
    assert seen["engine"] == cpus  # the engine's processes are not confined to the gateway's CPU
