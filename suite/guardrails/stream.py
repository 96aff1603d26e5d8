"""Guarding a streamed answer: masking with a sliding window, unmasking, mid-stream blocks.

The relay hands over complete SSE events. Text that could still grow into a PII value is held
back, so a value or a placeholder is never split across two chunks. With pattern recognizers
only (the default), ``ValueStarts`` tells where such text begins: the first position from which
a recognizer's pattern could still match once more text follows (a prefix test; see
holdback.py). Everything before it goes out with the event that completed it, and presidio is
asked only when a pattern matches in that text completely, on the released window together with
the words before it (presidio's context words); ordinary words need no presidio call. Without a
prefix test (spaCy NER configured) the last words that could be part of a value are held and
presidio searches the held text on every event. Never more than ``window`` characters are held;
the release point moves back to the start of any value or placeholder that straddles it.
Released text is masked (values the model produced itself stay masked), then the caller's own
placeholders are revealed. A judge (Llama Guard) may see the answer so far before each release;
if it blocks, the client gets a notice and a ``finish_reason: "content_filter"`` chunk, and
nothing more.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from suite.guardrails.holdback import ValueStarts
from suite.guardrails.pii import PiiEntity, Vault
from suite.guardrails.verdicts import Verdict
from suite.workers import WorkerPool

_EVENT_END = "\n\n"
_OPEN_PLACEHOLDER = re.compile(r"<[A-Z0-9_]*$")
_WORD = re.compile(r"\S+")
_SPACE = re.compile(r"\s")
_MAY_BE_PII = re.compile(r"[\d@+]|^\W*[A-ZÄÖÜ]")

Judge = Callable[[str], Awaitable[Verdict | None]]


class StreamGuard:
    """Rewrites the SSE events of one streamed answer; one per request."""

    def __init__(
        self,
        *,
        spans: Callable[[str], list[PiiEntity]] | None,
        vault: Vault,
        window: int,
        judge: Judge | None = None,
        pool: WorkerPool | None = None,
        starts: ValueStarts | None = None,
    ) -> None:
        self._spans = spans
        self._starts = starts if spans is not None else None  # the prefix test for spans' recognizers
        self._pool = pool  # presidio's pool (asyncio's default pool when none is given)
        self._vault = vault
        self._window = window
        self._judge = judge
        self._pending: dict[int, str] = {}
        self._released: dict[int, str] = {}
        self._sent: dict[int, str] = {}
        self._forced: dict[int, bool] = {}
        self._recorded: dict[int, str] = {}
        self._template: dict[str, Any] | None = None
        self.blocked: Verdict | None = None

    @property
    def holds_text(self) -> bool:
        return any(self._pending.values())

    @property
    def sent(self) -> dict[int, str]:
        """Each choice's text as the client received it so far (masked, then revealed)."""
        return dict(self._sent)

    @property
    def recorded(self) -> dict[int, str]:
        """Each choice's text as released so far, masked but not revealed: what the audit record keeps.

        The guard keeps it as it goes, so the answer need not be parsed again for the record.
        """
        return dict(self._recorded)

    async def feed(self, piece: bytes) -> bytes:
        """The events to send for this piece of complete events (b"" holds everything back)."""
        out: list[str] = []
        for event in piece.decode().split(_EVENT_END):
            if not event:
                continue
            if self.blocked is not None:
                continue  # after a block nothing of the answer goes out
            body = _json_event(event)
            if body is None or not isinstance(body.get("choices"), list) or not body["choices"]:
                out.append(event)
                continue
            self._template = body
            rewritten = await self._rewrite(body)
            if self.blocked is not None:
                out += self._block_events()
            elif rewritten is not None:
                out.append("data: " + json.dumps(rewritten))
        return "".join(e + _EVENT_END for e in out).encode()

    async def flush(self) -> bytes:
        """Release whatever is still held (the stream ended without a finish_reason)."""
        if self.blocked is not None or not self.holds_text or self._template is None:
            return b""
        choices = []
        for index in list(self._pending):
            text = await self._release(index, final=True)
            if self.blocked is not None:
                return "".join(e + _EVENT_END for e in self._block_events()).encode()
            choices.append(_with_text({"index": index, "delta": {}}, text, self._template))
        body = {**self._template, "choices": choices}
        return ("data: " + json.dumps(body) + _EVENT_END).encode()

    async def _rewrite(self, body: dict[str, Any]) -> dict[str, Any] | None:
        choices = []
        meaningful = False
        for choice in body["choices"]:
            index = int(choice.get("index", 0))
            text = _text_of(choice)
            if text:
                self._pending[index] = self._pending.get(index, "") + text
            final = choice.get("finish_reason") is not None
            released = await self._release(index, final=final)
            if self.blocked is not None:
                return None
            choices.append(_with_text(choice, released, body))
            delta = choice.get("delta") or {}
            meaningful |= bool(released) or final or any(k != "content" for k in delta) or text is None
        return {**body, "choices": choices} if meaningful else None

    async def _release(self, index: int, *, final: bool) -> str:
        pending = self._pending.get(index, "")
        if not pending:
            return ""
        if self._starts is not None and self._judge is None:
            cut, spans = await self._release_point(index, pending, final=final)
        else:
            cut = self._word_hold_point(pending, final=final)
            spans = await self._find(pending) if self._spans and cut > 0 else []
        for span in spans:
            if span.start < cut < span.end:
                cut = span.start
        if not final and (open_tag := _OPEN_PLACEHOLDER.search(pending[:cut])):
            cut = open_tag.start()  # a placeholder the model is still writing
        if cut <= 0 and not final:
            return ""
        head = pending[:cut]
        if self._judge is not None:
            self.blocked = await self._judge(self._released.get(index, "") + head)
            if self.blocked is not None and self.blocked.blocks:
                return ""
            self.blocked = None
        self._pending[index] = pending[cut:]
        self._released[index] = self._released.get(index, "") + head
        masked = _replace(head, [s for s in spans if s.end <= cut], self._vault)
        self._recorded[index] = self._recorded.get(index, "") + masked
        shown = self._vault.reveal(masked)
        self._sent[index] = self._sent.get(index, "") + shown
        return shown

    def _word_hold_point(self, pending: str, *, final: bool) -> int:
        """Where the held text begins without a prefix test (a judge, nothing to mask, or NER)."""
        if final:
            return len(pending)
        if self._judge is not None:
            # A judge (Llama Guard) sees text before it goes out; judging every word would cost a
            # classifier call per token, so text is released in window-sized steps.
            return len(pending) - self._window if len(pending) >= 2 * self._window else 0
        if self._spans is None:
            return len(pending)  # nothing to mask: only a placeholder still being written is held
        return _hold_from(pending, self._window)

    async def _release_point(self, index: int, pending: str, *, final: bool) -> tuple[int, list[PiiEntity]]:
        """Where the text that could still grow into a value begins, and the values in front of it."""
        assert self._starts is not None
        # The released words before the held text: presidio's context words and the patterns'
        # word boundaries and look-behinds see them as they are in the whole answer.
        # After the window forced a cut into text that could still have become a value, that
        # value may have begun in the released text: look from the context's start (not only from
        # a word's start, the value may be longer than the window), and ask presidio.
        forced = self._forced.get(index, False)
        released = self._released.get(index, "")
        context = released[-self._window :] if forced else _context(released, self._window)
        scan = self._starts.scan(context + pending, 0 if forced else len(context), final=final)
        hold = max(scan.hold - len(context), 0)
        cut = len(pending) if final else max(hold, len(pending) - self._window)
        self._forced[index] = cut > hold
        # In front of the hold point presidio is needed only for a complete match, or while the
        # window forces cuts into text that could still become a value.
        if cut <= 0 or not (scan.candidate or forced or cut > hold):
            return cut, []
        return cut, _shifted(await self._find(context + pending), len(context))

    async def _find(self, text: str) -> list[PiiEntity]:
        assert self._spans is not None
        if self._pool is not None:
            return await self._pool.run(self._spans, text)
        return await asyncio.to_thread(self._spans, text)

    def _block_events(self) -> list[str]:
        assert self.blocked is not None
        assert self._template is not None
        notice = f"\n\n[The rest of the answer was withheld by the guardrails: {self.blocked.reason}.]"
        base = {k: v for k, v in self._template.items() if k not in ("choices", "usage")}
        indexes = sorted(self._pending) or [0]
        # Not in OpenAI's schema: "guardrail" names the check that stopped the answer.
        notice_body = {
            **base,
            "choices": [_with_text({"index": i, "delta": {}}, notice, self._template) for i in indexes],
            "guardrail": self.blocked.as_record(),
        }
        finish_body = {
            **base,
            "choices": [
                {**_with_text({"index": i, "delta": {}}, "", self._template), "finish_reason": "content_filter"}
                for i in indexes
            ],
        }
        self._pending = {}
        return ["data: " + json.dumps(notice_body), "data: " + json.dumps(finish_body)]


def _hold_from(pending: str, window: int) -> int:
    """Where the text that may still grow into a PII value begins; everything before it can go out now.

    Held: the last word (it may be unfinished) and the words right before it that could be part
    of the same value: with a digit, "@" or "+" (phone numbers, IBANs, e-mail addresses, ids,
    plates) or a capital letter (names, places, organisations). Never more than window characters,
    and the caller moves the cut back to the start of any value found across it.
    """
    start = len(pending)
    for word in reversed(list(_WORD.finditer(pending))):
        if word.end() != len(pending) and not _MAY_BE_PII.search(word.group()):
            break
        start = word.start()
    return max(start, len(pending) - window)


def _context(released: str, window: int) -> str:
    """The end of the released text, from a word's start, at most window characters."""
    if len(released) <= window:
        return released
    tail = released[-window:]
    space = _SPACE.search(tail)
    return tail[space.end() :] if space else ""


def _shifted(spans: list[PiiEntity], offset: int) -> list[PiiEntity]:
    """Spans found in context + pending, in pending's offsets; a value begun in the context is masked from 0."""
    return [PiiEntity(s.entity, max(s.start - offset, 0), s.end - offset, s.score) for s in spans if s.end > offset]


def _json_event(event: str) -> dict[str, Any] | None:
    if not event.startswith("data: {"):
        return None
    try:
        body = json.loads(event[len("data: ") :])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text_of(choice: dict[str, Any]) -> str | None:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return content if isinstance(content, str) else None
    text = choice.get("text")  # legacy completions
    return text if isinstance(text, str) else None


def _with_text(choice: dict[str, Any], text: str, body: dict[str, Any]) -> dict[str, Any]:
    chat = body.get("object") == "chat.completion.chunk" or "delta" in choice
    if chat:
        return {**choice, "delta": {**(choice.get("delta") or {}), "content": text}}
    return {k: v for k, v in choice.items() if k != "delta"} | {"text": text}


def _replace(text: str, spans: list[PiiEntity], vault: Vault) -> str:
    parts, last = [], 0
    for span in spans:
        parts += [
            text[last : span.start],
            vault.placeholder(span.entity, text[span.start : span.end], revealable=False),
        ]
        last = span.end
    return "".join(parts) + text[last:]
