"""Model serving: vLLM engines as supervised children, pools with failover, the streaming relay.

Names are imported on first use (suite.lazy): `suite demo` builds the demo model without loading
the relay, the pools and the supervisor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.serving.catalog import ModelCatalog, engine_url
    from suite.serving.cpus import CpuLayout, adopt_cpu_layout, plan_cpu_layout, vllm_is_cpu_build
    from suite.serving.demo_model import build_demo_model, is_built
    from suite.serving.engine import EngineProcess
    from suite.serving.pool import Backend, Pool
    from suite.serving.protocol import Answer, AnswerChoice, Usage
    from suite.serving.relay import Relay, StreamTap, UpstreamReply, UpstreamStream, error_event
    from suite.serving.supervisor import EngineSupervisor

__all__ = [
    "Answer",
    "AnswerChoice",
    "Backend",
    "CpuLayout",
    "EngineProcess",
    "EngineSupervisor",
    "ModelCatalog",
    "Pool",
    "Relay",
    "StreamTap",
    "UpstreamReply",
    "UpstreamStream",
    "Usage",
    "adopt_cpu_layout",
    "build_demo_model",
    "engine_url",
    "error_event",
    "is_built",
    "plan_cpu_layout",
    "vllm_is_cpu_build",
]

__getattr__ = lazy_names(
    __name__,
    {
        "ModelCatalog": "catalog",
        "CpuLayout": "cpus",
        "adopt_cpu_layout": "cpus",
        "plan_cpu_layout": "cpus",
        "vllm_is_cpu_build": "cpus",
        "engine_url": "catalog",
        "build_demo_model": "demo_model",
        "is_built": "demo_model",
        "EngineProcess": "engine",
        "Backend": "pool",
        "Pool": "pool",
        "Answer": "protocol",
        "AnswerChoice": "protocol",
        "Usage": "protocol",
        "Relay": "relay",
        "StreamTap": "relay",
        "UpstreamReply": "relay",
        "UpstreamStream": "relay",
        "error_event": "relay",
        "EngineSupervisor": "supervisor",
    },
)
