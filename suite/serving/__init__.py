"""Model serving: vLLM engines as supervised children, pools with failover, the streaming relay."""

from suite.serving.catalog import ModelCatalog, engine_url
from suite.serving.cpus import CpuLayout, adopt_cpu_layout, plan_cpu_layout, vllm_is_cpu_build
from suite.serving.demo_model import build_demo_model
from suite.serving.engine import OFFLINE_ENV, EngineProcess
from suite.serving.pool import Backend, Pool
from suite.serving.relay import Relay, StreamTap, UpstreamReply, UpstreamStream, error_event
from suite.serving.supervisor import EngineSupervisor

__all__ = [
    "OFFLINE_ENV",
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
    "adopt_cpu_layout",
    "build_demo_model",
    "engine_url",
    "error_event",
    "plan_cpu_layout",
    "vllm_is_cpu_build",
]
