"""The text of an OpenAI message's ``content``, as the checks read it and as it goes on after them.

``content`` is a string, ``None`` (tool calls), or a list of content parts
(``{"type": "text", "text": ...}``, ``{"type": "image_url", ...}``). The model reads a message's
text parts as one text joined by newlines (vLLM's chat template does so), so the checks read that
same text: an instruction split over two parts is judged whole. A screened (masked) text goes back
as one text part where the first text part was; the other parts (images, ...) keep their places.
"""

from __future__ import annotations

from typing import Any

Content = str | list[dict[str, Any]] | None

__all__ = ["Content", "content_text", "with_content_text"]


def content_text(content: Content) -> str | None:
    """The text a message carries (its text parts joined by newlines); None when it carries none."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"]
    return "\n".join(texts) if texts else None


def with_content_text(content: Content, text: str) -> Content:
    """content with its text replaced by text (after masking): a string stays a string; in a list of
    parts, the first text part carries text and the other text parts are dropped."""
    if not isinstance(content, list):
        return text
    if content_text(content) == text:
        return content
    replaced: list[dict[str, Any]] = []
    placed = False
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            if not placed:
                replaced.append({**part, "text": text})
                placed = True
            continue
        replaced.append(part)
    return replaced
