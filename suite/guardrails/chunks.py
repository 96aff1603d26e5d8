"""The retrieval stage as the RAG service's ``ChunkScreen``: indirect injection in retrieved chunks."""

from __future__ import annotations

from suite.auth import Principal
from suite.guardrails.pipeline import Guardrails, Scope
from suite.rag import RetrievedChunk, ScreenResult


class GuardrailChunkScreen:
    """Drops chunks an enforced retrieval check blocks; masks PII when the stage masks; reports verdicts."""

    def __init__(self, guardrails: Guardrails) -> None:
        self._guardrails = guardrails

    async def screen(self, chunks: list[RetrievedChunk], *, principal: Principal, query: str) -> ScreenResult:
        scope = Scope(route="retrieval", roles=frozenset(principal.roles))
        screened = await self._guardrails.screen([c.text for c in chunks], stage="retrieval", scope=scope)
        kept: list[RetrievedChunk] = []
        verdicts = []
        for chunk, result in zip(chunks, screened, strict=True):
            for verdict in result.verdicts:
                if verdict.outcome != "allow":
                    verdicts.append({**verdict.as_record(), "chunk_id": chunk.chunk_id})
            if result.blocked_by is None:
                kept.append(chunk if result.text == chunk.text else _with_text(chunk, result.text))
        return ScreenResult(kept, verdicts)


def _with_text(chunk: RetrievedChunk, text: str) -> RetrievedChunk:
    from dataclasses import replace

    return replace(chunk, text=text)
