"""A chunk as retrieval returns it: text, score and everything a citation needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    document_id: str
    collection: str
    title: str
    source_uri: str
    page: int | None
    section: str
    text: str
    score: float
    classification: str

    @classmethod
    def from_payload(cls, point_id: str, collection: str, score: float, payload: dict[str, Any]) -> RetrievedChunk:
        return cls(
            chunk_id=point_id,
            document_id=str(payload["document_id"]),
            collection=collection,
            title=str(payload.get("title", "")),
            source_uri=str(payload.get("source_uri", "")),
            page=payload.get("page"),
            section=str(payload.get("section", "")),
            text=str(payload.get("text", "")),
            score=score,
            classification=str(payload.get("classification", "internal")),
        )
