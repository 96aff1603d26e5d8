"""Structure-aware chunking, measured in the embedding model's own tokens.

Chunks never cross a heading or a page: each carries its section (the heading path) and page,
so a citation points at both. Paragraphs are packed together up to ``size`` tokens; a table
that fits stays whole, a larger one is split by rows with its header line repeated; a
paragraph longer than ``size`` is cut into windows of ``size`` tokens that overlap by
``overlap`` tokens, and packed chunks of running text start with the last ``overlap`` tokens
of the chunk before, so a sentence on a boundary is found from either side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from suite.rag.documents import Block, Chunk, LoadedDocument, SourceDocument


@dataclass
class _Unit:
    text: str
    tokens: int
    prose: bool


class Chunker:
    """Cuts loaded documents into chunks of at most ``size`` tokens (of ``tokenizer``)."""

    def __init__(self, tokenizer: Any, *, size: int, overlap: int) -> None:
        self._tokenizer = tokenizer
        self.size = size
        self.overlap = overlap

    def count(self, text: str) -> int:
        """Tokens of text, without the model's special tokens."""
        return len(self._offsets(text))

    def chunks(self, document: SourceDocument, loaded: LoadedDocument, *, content_hash: str) -> list[Chunk]:
        """The document's chunks, numbered in reading order."""
        title = document.title or loaded.title or PurePosixPath(document.name).stem
        pieces: list[tuple[str, int | None, str]] = []  # (text, page, section)
        headings: list[tuple[int, str]] = []
        units: list[_Unit] = []
        page: int | None = None

        def flush() -> None:
            if units:
                pieces.append(("\n".join(u.text for u in units), page, " > ".join(t for _, t in headings)))
                units.clear()

        for block in loaded.blocks:
            if block.page != page or block.kind == "heading":
                flush()
                page = block.page
            if block.kind == "heading":
                headings[:] = [(lvl, text) for lvl, text in headings if lvl < block.level] + [(block.level, block.text)]
                continue
            for unit in self._units(block):
                used = sum(u.tokens for u in units)
                if units and used + unit.tokens > self.size:
                    tail = self._tail(units[-1]) if unit.prose and units[-1].prose else None
                    flush()
                    if tail is not None and tail.tokens + unit.tokens <= self.size:
                        units.append(tail)
                units.append(unit)
        flush()
        return [
            Chunk(
                document_id=document.document_id,
                index=index,
                text=text,
                title=title,
                source_uri=document.uri,
                page=chunk_page,
                section=section,
                content_hash=content_hash,
                classification=document.classification,
                acl=document.acl,
            )
            for index, (text, chunk_page, section) in enumerate(pieces)
        ]

    def _units(self, block: Block) -> list[_Unit]:
        offsets = self._offsets(block.text)
        if len(offsets) <= self.size:
            return [_Unit(block.text, len(offsets), prose=block.kind == "paragraph")]
        if block.kind == "table":
            return self._table_rows(block.text)
        return self._windows(block.text, offsets)

    def _table_rows(self, table: str) -> list[_Unit]:
        header, *rows = table.split("\n")
        header_tokens = self.count(header)
        units: list[_Unit] = []
        lines: list[str] = []
        used = header_tokens
        for row in rows:
            tokens = self.count(row) + 1
            if lines and used + tokens > self.size:
                units.append(_Unit("\n".join([header, *lines]), used, prose=False))
                lines, used = [], header_tokens
            lines.append(row)
            used += tokens
        units.append(_Unit("\n".join([header, *lines]), used, prose=False))
        return units

    def _windows(self, text: str, offsets: list[tuple[int, int]]) -> list[_Unit]:
        step = self.size - self.overlap
        units = []
        for start in range(0, len(offsets), step):
            end = min(start + self.size, len(offsets))
            units.append(_Unit(text[_word_start(text, offsets[start][0]) : offsets[end - 1][1]], end - start, True))
            if end == len(offsets):
                break
        return units

    def _tail(self, unit: _Unit) -> _Unit | None:
        if self.overlap == 0:
            return None
        offsets = self._offsets(unit.text)
        if len(offsets) <= self.overlap:
            return None
        begin = _word_start(unit.text, offsets[-self.overlap][0])
        return _Unit(unit.text[begin:], self.overlap, prose=True)

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return [tuple(pair) for pair in encoded["offset_mapping"]]


def _word_start(text: str, position: int) -> int:
    """Back to the start of the word that position falls in, so no window begins mid-word."""
    while position > 0 and not text[position - 1].isspace():
        position -= 1
    return position
