"""PDF with pypdf: one block per paragraph, each with its page number (1-based)."""

from __future__ import annotations

import io

from pypdf import PdfReader

from suite.errors import DocumentUnreadable
from suite.rag.documents import Block, LoadedDocument
from suite.rag.loaders.markup import paragraphs


def load_pdf(data: bytes) -> LoadedDocument:
    """Text per page; scanned pages without a text layer yield nothing (no OCR here)."""
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise DocumentUnreadable("the PDF is encrypted")
    blocks = [
        Block("paragraph", text, page=number)
        for number, page in enumerate(reader.pages, start=1)
        for text in paragraphs(page.extract_text() or "")
    ]
    title = reader.metadata.title if reader.metadata else None
    return LoadedDocument(blocks, title=str(title) if title else None)
