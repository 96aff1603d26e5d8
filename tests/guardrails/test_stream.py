"""Stream masking: placeholders and PII values are never split across chunks; blocks end the stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from suite.config import GuardrailSettings
from suite.gateway.openai.guarding import RequestGuard
from suite.guardrails import Guardrails, Scope, StreamGuard, Vault, Verdict


def _chunk(text: str, finish: str | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _texts(out: list[bytes]) -> list[str]:
    texts = []
    for piece in out:
        for event in piece.split(b"\n\n"):
            if event.startswith(b"data: {"):
                for choice in json.loads(event[6:]).get("choices", []):
                    texts.append(choice["delta"].get("content") or "")
    return texts


def _run(guard: StreamGuard, pieces: list[bytes]) -> list[bytes]:
    async def go() -> list[bytes]:
        out = [await guard.feed(p) for p in pieces]
        return [*out, await guard.flush()]

    return asyncio.run(go())


def test_values_split_across_chunks_are_masked_whole(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    answer = "Sure. Write to max.mustermann@example.org or call +49 30 12345678 today, thanks a lot for asking."
    pieces = [_chunk(answer[i : i + 3]) for i in range(0, len(answer), 3)] + [_chunk("", "stop")]
    vault = Vault()
    out = _run(StreamGuard(spans=guardrails.pii.spans, vault=vault, window=16), pieces)
    texts = _texts(out)
    joined = "".join(texts)
    assert "max.mustermann" not in joined
    assert "<EMAIL_ADDRESS_1>" in joined
    assert "<PHONE_NUMBER_1>" in joined
    # Every placeholder arrives inside one chunk.
    assert any("<EMAIL_ADDRESS_1>" in t for t in texts)
    assert joined.startswith("Sure. Write to ")
    assert joined.endswith("thanks a lot for asking.")


def test_the_callers_own_placeholders_are_revealed_unsplit(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    vault = Vault()
    guardrails.pii.mask("my mail is erika@example.de", vault)  # the prompt, masked reversibly
    answer = "I will send it to <EMAIL_ADDRESS_1> right away, as requested by you."
    pieces = [_chunk(answer[i : i + 2]) for i in range(0, len(answer), 2)] + [_chunk("", "stop")]
    texts = _texts(_run(StreamGuard(spans=guardrails.pii.spans, vault=vault, window=16), pieces))
    assert "".join(texts) == "I will send it to erika@example.de right away, as requested by you."
    assert any("erika@example.de" in t for t in texts)


def test_a_blocking_judge_stops_the_stream_with_content_filter() -> None:
    async def judge(text: str) -> Verdict | None:
        if "forbidden" in text:
            return Verdict("llamaguard", "output", "block", "unsafe: S1", 1.0)
        return None

    answer = "harmless words here and there and then something forbidden follows and more text"
    pieces = [_chunk(answer[i : i + 4]) for i in range(0, len(answer), 4)] + [_chunk("", "stop")]
    out = _run(StreamGuard(spans=None, vault=Vault(), window=16, judge=judge), pieces)
    events = [json.loads(e[6:]) for p in out for e in p.split(b"\n\n") if e.startswith(b"data: {")]
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert events[-2]["guardrail"]["name"] == "llamaguard"
    assert "forbidden" not in "".join(_texts(out))


def test_plain_prose_goes_out_word_by_word(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    words = ["the ", "meeting ", "is ", "moved ", "to ", "the ", "small ", "room ", "on ", "floor ", "three"]
    pieces = [_chunk(word) for word in words] + [_chunk("", "stop")]
    out = _run(StreamGuard(spans=guardrails.pii.spans, vault=Vault(), window=64), pieces)
    texts = _texts(out)
    # Each word is released with the next chunk, long before the window fills.
    assert texts[:3] == ["the ", "meeting ", "is "]
    assert "".join(texts) == "".join(words)


def test_with_nothing_to_mask_only_an_unfinished_placeholder_is_held(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    vault = Vault()
    guardrails.pii.mask("my mail is erika@example.de", vault)
    tokens = ["Sure", ",", " I", " write", " to", " <EMAIL", "_ADDRESS", "_1>", " today", "."]
    out = _run(StreamGuard(spans=None, vault=vault, window=16), [*map(_chunk, tokens), _chunk("", "stop")])
    texts = _texts(out)
    # Every token goes out with its own chunk (the first one too), but the placeholder waits until it is whole.
    assert texts[:5] == ["Sure", ",", " I", " write", " to"]
    assert "erika@example.de" in texts  # whole, in one chunk
    assert "".join(texts) == "Sure, I write to erika@example.de today."


def test_a_stream_with_no_output_checks_passes_untouched(tmp_path: Path) -> None:
    disabled = Guardrails(GuardrailSettings(enabled=False), data_dir=tmp_path)
    disabled.load()
    guard = RequestGuard(disabled, scope=Scope(route="chat", model="m"))
    first = _chunk("Paris")  # a capitalised word, which masking would hold back

    async def go() -> tuple[bytes, bytes]:
        return await guard.observe(first), await guard.finish_stream()

    assert asyncio.run(go()) == (first, b"")
