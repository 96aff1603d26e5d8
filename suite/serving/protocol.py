"""Typed views of the answers OpenAI-compatible backends send (vLLM), parsed once by the relay.

A non-streamed chat or completion answer is read into an ``Answer`` when it arrives (the relay
needs to know it is one anyway, to fail over when it is not); the gateway's stages read and
rewrite that object (guardrail masking, revealing the caller's own values, citations) and it is
serialised once, when it goes to the client. Fields the views do not name (``logprobs``,
``tool_calls``, vLLM's extensions) are kept as they came (``extra="allow"``), and only fields the
backend sent are written back (``exclude_unset``), so the client sees the backend's answer with
only the gateway's own changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class AnswerMessage(_View):
    """A chat answer's message; ``content`` is None for a tool call."""

    role: str | None = None
    content: str | None = None


class AnswerChoice(_View):
    """One choice: ``message`` for chat, ``text`` for the legacy completions API."""

    index: int = 0
    message: AnswerMessage | None = None
    text: str | None = None
    finish_reason: str | None = None

    @property
    def content(self) -> str | None:
        """The choice's text, whichever API it answers."""
        return self.message.content if self.message is not None else self.text

    def set_content(self, text: str) -> None:
        """Replace the choice's text (masked, revealed) where the API keeps it."""
        if self.message is not None:
            self.message.content = text
        else:
            self.text = text


class Usage(_View):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Answer(_View):
    """A complete (non-streamed) chat or completion answer."""

    choices: list[AnswerChoice] = Field(default_factory=list)
    usage: Usage | None = None
    # Not from the backend, not in OpenAI's schema: the sources a grounded chat answer cites (the gateway's RAG).
    citations: list[dict[str, Any]] | None = None

    @classmethod
    def parse(cls, content: bytes) -> Answer:
        """The answer in these bytes; ValueError (pydantic's ValidationError) when they are not one."""
        return cls.model_validate_json(content)

    def texts(self) -> list[str]:
        """Each choice's text (choices without text, such as tool calls, left out)."""
        return [text for choice in self.choices if isinstance(text := choice.content, str)]

    def dump(self) -> bytes:
        """The answer as it goes to the client: what the backend sent, with the gateway's changes."""
        return self.model_dump_json(exclude_unset=True).encode()
