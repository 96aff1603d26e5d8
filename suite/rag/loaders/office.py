"""Office files: DOCX (python-docx, headings from paragraph styles, tables kept), XLSX (openpyxl) and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph
from openpyxl import load_workbook  # type: ignore[import-untyped]

from suite.rag.documents import Block, LoadedDocument


def table_text(rows: Iterable[Iterable[object]]) -> str:
    """A table as lines of cells separated by " | " (the first line is the header the chunker repeats)."""
    lines = []
    for row in rows:
        cells = ["" if cell is None else " ".join(str(cell).split()) for cell in row]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def load_docx(data: bytes) -> LoadedDocument:
    """Paragraphs and tables in document order; "Heading N" and "Title" styles become headings."""
    document = docx.Document(io.BytesIO(data))
    blocks = list(_docx_blocks(document.iter_inner_content()))
    title = document.core_properties.title or next((b.text for b in blocks if b.kind == "heading"), None)
    return LoadedDocument(blocks, title=title or None)


def _docx_blocks(items: Iterable[Paragraph | Table]) -> Iterator[Block]:
    for item in items:
        if isinstance(item, Table):
            text = table_text([cell.text for cell in row.cells] for row in item.rows)
            if text:
                yield Block("table", text)
            continue
        text = item.text.strip()
        if not text:
            continue
        style = item.style.name if item.style is not None and item.style.name else ""
        if style == "Title":
            yield Block("heading", text, level=1)
        elif style.startswith("Heading") and style[7:].strip().isdigit():
            yield Block("heading", text, level=int(style[7:]))
        else:
            yield Block("paragraph", text)


def load_xlsx(data: bytes) -> LoadedDocument:
    """Each sheet as a heading (its name) and one table of its values."""
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    blocks: list[Block] = []
    try:
        for sheet in workbook.worksheets:
            text = table_text(sheet.iter_rows(values_only=True))
            if text:
                blocks += [Block("heading", sheet.title, level=1), Block("table", text)]
    finally:
        workbook.close()
    return LoadedDocument(blocks)


def load_csv(data: bytes) -> LoadedDocument:
    """One table; the delimiter is sniffed (comma, semicolon as in German exports, tab)."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    table = table_text(csv.reader(io.StringIO(text), dialect))
    return LoadedDocument([Block("table", table)] if table else [])
