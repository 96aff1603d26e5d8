"""HTML (beautifulsoup4), Markdown (markdown-it-py) and plain text."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag
from markdown_it import MarkdownIt

from suite.rag.documents import Block, LoadedDocument
from suite.rag.loaders.office import table_text

_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_TEXT_TAGS = {"p", "li", "pre", "blockquote", "dd", "dt", "figcaption"}
_SKIPPED = ["script", "style", "noscript", "nav", "header", "footer", "form"]


def paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: separated by blank lines, inner whitespace folded."""
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def decode(data: bytes) -> str:
    """Text from bytes: UTF-8 (with or without BOM), else Windows-1252 as older German files often are."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def load_text(data: bytes) -> LoadedDocument:
    """Paragraphs separated by blank lines."""
    return LoadedDocument([Block("paragraph", p) for p in paragraphs(decode(data))])


def load_html(data: bytes) -> LoadedDocument:
    """Headings, text blocks and tables of the main content (navigation and scripts dropped)."""
    soup = BeautifulSoup(data, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    root = soup.find(id="main-content") or soup.find("main") or soup.body or soup
    for tag in root.find_all(_SKIPPED):
        tag.decompose()
    return LoadedDocument(html_blocks(root), title=title or None)


def html_blocks(root: Tag | BeautifulSoup) -> list[Block]:
    """Blocks in document order; nested text tags are read once, by their outermost element."""
    blocks: list[Block] = []
    for tag in root.find_all([*_HEADINGS, *_TEXT_TAGS, "table"]):
        if tag.find_parent(["table", *_TEXT_TAGS]) is not None:
            continue
        if tag.name == "table":
            rows = ([cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])] for row in tag("tr"))
            if text := table_text(rows):
                blocks.append(Block("table", text))
        elif text := " ".join(tag.get_text(" ", strip=True).split()):
            level = _HEADINGS.get(tag.name, 0)
            blocks.append(Block("heading" if level else "paragraph", text, level=level))
    if not blocks and (text := " ".join(root.get_text(" ", strip=True).split())):
        blocks.append(Block("paragraph", text))
    return blocks


def load_markdown(data: bytes) -> LoadedDocument:
    """Markdown rendered with markdown-it-py (CommonMark + tables) and read as HTML, so both share one path."""
    html = MarkdownIt("commonmark").enable("table").render(decode(data))
    root = BeautifulSoup(html, "lxml")
    blocks = html_blocks(root)
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return LoadedDocument(blocks, title=title)
