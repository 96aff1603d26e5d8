"""Wire models of ``POST /v1/guardrails/check`` (a suite route, not part of the OpenAI API)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GuardCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000)


class GuardVerdict(BaseModel):
    name: str
    outcome: Literal["allow", "mask", "block"]
    reason: str
    score: float
    details: dict[str, Any] = Field(default_factory=dict)


class GuardCheckResponse(BaseModel):
    object: Literal["guardrails.check"] = "guardrails.check"
    # The overall outcome: block if any check blocks, mask if PII was found, else allow.
    outcome: Literal["allow", "mask", "block"]
    verdicts: list[GuardVerdict]
    # The text as PII masking leaves it.
    masked_text: str
