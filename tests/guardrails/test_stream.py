"""Stream masking: placeholders and PII values are never split across chunks; blocks end the stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from suite.config import GuardrailSettings
from suite.gateway.openai.guarding import RequestGuard
from suite.guardrails import Guardrails, PiiEntity, PiiMasker, Scope, StreamGuard, Vault, Verdict


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


# ---- the prefix test (pattern recognizers only, the default) --------------------------------

VALUES = {
    "EMAIL_ADDRESS": "max.mustermann@example.org",
    "PHONE_NUMBER": "+49 30 12345678",
    "IBAN_CODE": "DE89 3704 0044 0532 0130 00",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IP_ADDRESS": "2001:db8::8a2e:370:7334",
    "DE_TAX_ID": "86095742719",
    "DE_SOCIAL_SECURITY": "65170839J003",
    "DE_ID_CARD": "T22000129",
    "DE_KFZ": "M-AB 1234",
    "CUSTOMER_NUMBER": "KD-1234567",
}


class _CountingSpans:
    """presidio's spans, counting the calls."""

    def __init__(self, pii: PiiMasker) -> None:
        self.pii = pii
        self.calls = 0

    def __call__(self, text: str) -> list[PiiEntity]:
        self.calls += 1
        return self.pii.spans(text)


def _prefix_guard(pii: PiiMasker, *, window: int = 64) -> StreamGuard:
    assert pii.value_starts is not None  # blank pipelines: pattern recognizers only
    return StreamGuard(spans=pii.spans, vault=Vault(), window=window, starts=pii.value_starts)


def _masked_whole(pii: PiiMasker, text: str) -> str:
    """The answer masked as one text, as a non-streamed answer is."""
    vault, parts, last = Vault(), [], 0
    for span in pii.spans(text):
        parts += [
            text[last : span.start],
            vault.placeholder(span.entity, text[span.start : span.end], revealable=False),
        ]
        last = span.end
    return "".join(parts) + text[last:]


@pytest.mark.parametrize("entity", sorted(VALUES))
def test_a_value_split_at_any_position_is_never_released_unmasked(guardrails: Guardrails, entity: str) -> None:
    pii = guardrails.pii
    assert pii is not None
    value = VALUES[entity]
    answer = f"Sure, it is {value} as you asked."
    expected = _masked_whole(pii, answer)
    assert value not in expected
    assert f"<{entity}_1>" in expected
    start = answer.index(value)
    # Two chunks split at every position inside the value and around it, then one chunk per character.
    splits = [[answer[:i], answer[i:]] for i in range(start - 2, start + len(value) + 2)]
    splits.append(list(answer))
    for pieces in splits:
        texts = _texts(_run(_prefix_guard(pii), [*map(_chunk, pieces), _chunk("", "stop")]))
        assert "".join(texts) == expected, pieces
        assert any(f"<{entity}_1>" in t for t in texts)  # the placeholder arrives in one chunk


def test_a_value_split_across_token_like_chunks_is_masked(guardrails: Guardrails) -> None:
    pii = guardrails.pii
    assert pii is not None
    answer = (
        "Write to max.mustermann@example.org, or call +49 30 12345678 or 030 1234567; IBAN DE89 3704 0044 0532 0130 00."
    )
    for size in (2, 3, 5, 7):
        pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
        texts = _texts(_run(_prefix_guard(pii), [*map(_chunk, pieces), _chunk("", "stop")]))
        assert "".join(texts) == _masked_whole(pii, answer)


def test_ordinary_words_go_out_with_the_next_chunk_and_no_presidio_call(guardrails: Guardrails) -> None:
    pii = guardrails.pii
    assert pii is not None
    assert pii.value_starts is not None
    counting = _CountingSpans(pii)
    tokens = ["The", " meeting", " is", " moved", " to", " the", " small", " room", " on", " Monday", ",", " Anna", "."]
    guard = StreamGuard(spans=counting, vault=Vault(), window=64, starts=pii.value_starts)
    texts = _texts(_run(guard, [*map(_chunk, tokens), _chunk("", "stop")]))
    assert counting.calls == 0
    # Only the last word waits (it may still become an e-mail address, "The@example.org"), with
    # words that could start a licence plate ("on an" + " 12"), until the next chunk shows it does not.
    assert texts[:4] == ["The ", "meeting ", "is ", "moved "]
    assert "".join(texts) == "".join(tokens)


def test_numbers_and_context_go_to_presidio_once_they_are_complete(guardrails: Guardrails) -> None:
    pii = guardrails.pii
    assert pii is not None
    assert pii.value_starts is not None
    counting = _CountingSpans(pii)
    tokens = [
        "Your",
        " Kenn",
        "zeichen",
        " is",
        " B",
        " MW",
        " 12",
        "3",
        " and",
        " the",
        " total",
        " is",
        " 42",
        " euros",
        ".",
    ]
    guard = StreamGuard(spans=counting, vault=Vault(), window=64, starts=pii.value_starts)
    joined = "".join(_texts(_run(guard, [*map(_chunk, tokens), _chunk("", "stop")])))
    assert joined == "Your Kennzeichen is <DE_KFZ_1> and the total is 42 euros."
    assert 1 <= counting.calls <= 3


def test_the_rest_of_a_value_longer_than_the_window_is_masked(guardrails: Guardrails) -> None:
    pii = guardrails.pii
    assert pii is not None
    answer = "Mail me at a.very.long.local.part.for.testing@ex.org today."
    pieces = [answer[i : i + 4] for i in range(0, len(answer), 4)]
    texts = _texts(_run(_prefix_guard(pii, window=16), [*map(_chunk, pieces), _chunk("", "stop")]))
    joined = "".join(texts)
    # At most window characters are held: the start of the value went out, the rest is masked.
    assert "@ex.org" not in joined
    assert "<EMAIL_ADDRESS_1>" in joined
    assert joined.startswith("Mail me at ")
    assert joined.endswith(" today.")
