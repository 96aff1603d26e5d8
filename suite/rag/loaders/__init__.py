"""Loaders: a document's bytes to text blocks (headings, paragraphs, tables), picked by file extension.

PDF (pypdf, page numbers kept), DOCX (python-docx), XLSX (openpyxl), CSV, HTML (beautifulsoup4),
Markdown (markdown-it-py), plain text and e-mail (.eml, stdlib ``email``). A file that cannot be
read raises ``DocumentUnreadable`` naming the file and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from suite.errors import DocumentUnreadable
from suite.rag.documents import LoadedDocument, SourceDocument
from suite.rag.loaders.mail import load_eml
from suite.rag.loaders.markup import load_html, load_markdown, load_text
from suite.rag.loaders.office import load_csv, load_docx, load_xlsx
from suite.rag.loaders.pdf import load_pdf

Loader = Callable[[bytes], LoadedDocument]

LOADERS: dict[str, Loader] = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".xlsx": load_xlsx,
    ".csv": load_csv,
    ".html": load_html,
    ".htm": load_html,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".eml": load_eml,
}


def supported(name: str) -> bool:
    """Whether a file name has an extension some loader reads."""
    return PurePosixPath(name).suffix.lower() in LOADERS


def load(document: SourceDocument, data: bytes) -> LoadedDocument:
    """The document's text blocks; DocumentUnreadable (naming the document) when it cannot be read."""
    loader = LOADERS.get(PurePosixPath(document.name).suffix.lower())
    if loader is None:
        raise DocumentUnreadable(f"{document.uri}: no loader for this kind of file")
    try:
        loaded = loader(data)
    except DocumentUnreadable as exc:
        raise DocumentUnreadable(f"{document.uri}: {exc.message}") from exc
    except Exception as exc:  # a corrupt file can break a parser in any way; report it and go on
        raise DocumentUnreadable(f"{document.uri}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return loaded


__all__ = ["LOADERS", "load", "supported"]
