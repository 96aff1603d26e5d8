"""Wire models of the OpenAI-compatible API.

Requests are validated here and then forwarded to vLLM as they came (fields the client
did not set stay unset), so vLLM's own sampling extensions (``top_k``, ``min_p``, ...)
pass through: request models allow extra fields. Chat and completion answers are
relayed byte for byte from vLLM and therefore have no models here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenAIModel(BaseModel):
    """Base of the wire models."""

    model_config = ConfigDict(extra="forbid")


class OpenAIRequest(BaseModel):
    """Base of requests: known fields are checked, unknown ones go to vLLM untouched."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)


# ---- errors -------------------------------------------------------------------------


class ErrorDetail(OpenAIModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(OpenAIModel):
    error: ErrorDetail


# ---- models -------------------------------------------------------------------------


class ModelCard(OpenAIModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "suite"
    # Not in OpenAI's schema: what the entry is ("chat" LLM or "embedding" model).
    kind: Literal["chat", "embedding"] = "chat"
    # Not in OpenAI's schema: for an alias, the model it stands for.
    alias_of: str | None = None


class ModelList(OpenAIModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---- chat and completions -----------------------------------------------------------


class StreamOptions(OpenAIModel):
    include_usage: bool = False
    continuous_usage_stats: bool = False  # vLLM extension


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    # A string, or a list of content parts (text, image_url, ...), or None for tool calls.
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class SamplingFields(OpenAIRequest):
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int | None = Field(default=None, ge=1, le=16)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    user: str | None = None


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    # Not in OpenAI's schema: RAG knowledge collections to ground the answer in (or model "rag:<collection>");
    # the answer then carries "citations". Never forwarded to the model.
    collections: list[str] | None = Field(default=None, min_length=1, max_length=16)


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    suffix: str | None = None


# ---- embeddings ---------------------------------------------------------------------


class EmbeddingRequest(OpenAIRequest):
    model_config = ConfigDict(extra="forbid")

    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    # Accepted for compatibility; the models serve their native size only.
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


class Embedding(OpenAIModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(OpenAIModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(OpenAIModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
