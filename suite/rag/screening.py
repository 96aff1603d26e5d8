"""The screening stage between retrieval and the prompt.

Retrieved chunks pass through a ``ChunkScreen`` before anyone sees them (the grounded prompt
and ``/v1/retrieve``). The default lets everything through; the guardrails plug their
indirect-injection checks in here: drop or rewrite chunks and report verdicts, which the
audit record keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from suite.auth import Principal
from suite.rag.retrieved import RetrievedChunk


@dataclass(frozen=True)
class ScreenResult:
    """The chunks that may be used, and what the screen found (for the audit record)."""

    chunks: list[RetrievedChunk]
    verdicts: list[dict[str, Any]] = field(default_factory=list)


class ChunkScreen(Protocol):
    """Checks retrieved chunks before they reach a prompt or a caller."""

    async def screen(self, chunks: list[RetrievedChunk], *, principal: Principal, query: str) -> ScreenResult: ...


class AllowAll:
    """The default screen: every chunk passes."""

    async def screen(self, chunks: list[RetrievedChunk], *, principal: Principal, query: str) -> ScreenResult:
        return ScreenResult(chunks)
