"""RESULTS.md: each benchmark owns one section, which a new run replaces (or appends when new)."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, section: str) -> None:
    """Put section (starting with heading) where the section of that heading is, or at the end."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if heading in text:
        start = text.index(heading)
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[following + 1 :] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
