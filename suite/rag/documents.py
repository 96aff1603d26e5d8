"""What flows through RAG: source documents from connectors, text blocks from loaders, chunks to the store."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Ids are UUIDv5 (Qdrant point ids must be UUIDs or integers) under this namespace.
_NAMESPACE = uuid.UUID("6f1c2f4e-5a7b-4d0e-9c33-2b8a1d7e4f10")

Classification = Literal["public", "internal", "confidential", "restricted"]
BlockKind = Literal["heading", "paragraph", "table"]


@dataclass(frozen=True)
class Acl:
    """Who may read a document: IdP groups and subjects. Empty: no one (until an admin grants it)."""

    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.groups and not self.users

    def merged(self, other: Acl) -> Acl:
        return Acl(self.groups | other.groups, self.users | other.users)


@dataclass(frozen=True)
class SourceDocument:
    """One document as a connector yields it; its bytes are read only when needed."""

    uri: str
    # The file name (or a name with the right extension): it picks the loader.
    name: str
    read: Callable[[], bytes]
    # None: the title the file names (PDF metadata, <title>, first heading), else the file name.
    title: str | None = None
    acl: Acl = Acl()
    classification: Classification = "internal"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def document_id(self) -> str:
        """Stable per source URI: re-ingesting a changed file replaces the same document."""
        return str(uuid.uuid5(_NAMESPACE, self.uri))


@dataclass(frozen=True)
class Block:
    """A piece of a document's structure as a loader found it."""

    kind: BlockKind
    text: str
    page: int | None = None
    # Heading level (1 = top) for headings.
    level: int = 0


@dataclass(frozen=True)
class LoadedDocument:
    """A document's text blocks, and a title when the file names one (PDF metadata, <title>, first heading)."""

    blocks: list[Block]
    title: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedding model, with everything a citation needs."""

    document_id: str
    index: int
    text: str
    title: str
    source_uri: str
    page: int | None
    section: str
    content_hash: str
    classification: Classification
    acl: Acl

    @property
    def chunk_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.document_id}:{self.index}"))

    @property
    def embedding_text(self) -> str:
        """What is embedded: the chunk with its title and section, which often carry the topic."""
        heading = " / ".join(part for part in (self.title, self.section) if part)
        return f"{heading}\n{self.text}" if heading else self.text


def content_hash(data: bytes) -> str:
    """The SHA-256 that decides whether a document changed since its last ingest."""
    return hashlib.sha256(data).hexdigest()
