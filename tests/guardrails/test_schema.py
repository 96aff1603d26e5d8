"""Output schema checks: validation messages, one retry with the error, then a refusal naming it."""

from __future__ import annotations

import asyncio
import json

import pytest

from suite.errors import OutputSchemaViolation
from suite.gateway.openai.guarding import RequestGuard
from suite.gateway.openai.protocol import ChatCompletionRequest
from suite.guardrails import Guardrails, Scope
from suite.guardrails.schema import requested_schema, violation
from suite.serving import Answer, UpstreamReply

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}


def _reply(*texts: str) -> UpstreamReply:
    body = {"choices": [{"index": i, "message": {"role": "assistant", "content": t}} for i, t in enumerate(texts)]}
    content = json.dumps(body).encode()
    return UpstreamReply(200, content, "test", Answer.parse(content))


def test_violations_are_named() -> None:
    assert violation('{"city": "Paris"}', SCHEMA) is None
    assert "required property" in (violation('{"town": "Paris"}', SCHEMA) or "")
    assert "not valid JSON" in (violation("Paris", SCHEMA) or "")
    assert requested_schema({"type": "json_object"}) == {"type": "object"}
    assert requested_schema({"type": "text"}) is None


def _guard(guardrails: Guardrails) -> tuple[RequestGuard, dict[str, object]]:
    guard = RequestGuard(guardrails, scope=Scope(route="chat", model="m"))
    body = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "city?"}], response_format=FORMAT)
    asyncio.run(guard.check_input(body))
    return guard, body.model_dump(exclude_unset=True)


def test_invalid_answer_is_retried_once_with_the_error(guardrails: Guardrails) -> None:
    guard, payload = _guard(guardrails)
    sent: list[dict[str, object]] = []

    async def resend(retry: bytes) -> UpstreamReply:
        sent.append(json.loads(retry))
        return _reply('{"city": "Paris"}')

    reply = asyncio.run(guard.check_reply(_reply("Paris!"), payload=payload, resend=resend))
    assert json.loads(json.loads(reply.body())["choices"][0]["message"]["content"]) == {"city": "Paris"}
    assert len(sent) == 1
    assert "not valid JSON" in sent[0]["messages"][-1]["content"]  # type: ignore[index]
    assert any(v["name"] == "schema" for v in guard.verdicts)


def test_a_second_failure_is_refused_naming_the_violation(guardrails: Guardrails) -> None:
    guard, payload = _guard(guardrails)

    async def resend(retry: bytes) -> UpstreamReply:
        return _reply('{"town": "Paris"}')

    with pytest.raises(OutputSchemaViolation, match="required property"):
        asyncio.run(guard.check_reply(_reply("Paris!"), payload=payload, resend=resend))


def test_every_choice_of_an_answer_is_checked_not_only_the_first(guardrails: Guardrails) -> None:
    guard, payload = _guard(guardrails)
    sent: list[dict[str, object]] = []

    async def resend(retry: bytes) -> UpstreamReply:
        sent.append(json.loads(retry))
        return _reply('{"city": "Paris"}', '{"town": "Lyon"}')

    with pytest.raises(OutputSchemaViolation, match=r"required property.*\(choice 1\)"):
        asyncio.run(guard.check_reply(_reply('{"city": "Paris"}', "Lyon!"), payload=payload, resend=resend))
    # The retry carried the broken choice's text, not choice 0's.
    assert sent[0]["messages"][-2] == {"role": "assistant", "content": "Lyon!"}  # type: ignore[index]


def _chunks(answer: str) -> list[bytes]:
    def event(text: str, finish: str | None = None) -> bytes:
        body = {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    return [event(answer[i : i + 5]) for i in range(0, len(answer), 5)] + [event("", "stop")]


def _stream(guard: RequestGuard, answer: str) -> tuple[str, bytes]:
    async def go() -> tuple[str, bytes]:
        sent = [await guard.observe(piece) for piece in _chunks(answer)]
        return b"".join(sent).decode(), await guard.finish_stream()

    return asyncio.run(go())


def test_a_streamed_answer_that_breaks_the_schema_ends_with_an_error_event(guardrails: Guardrails) -> None:
    guard, _ = _guard(guardrails)
    sent, closing = _stream(guard, '{"town": "Paris", "note": "a long enough answer to be streamed in pieces"}')
    assert "town" in sent  # already delivered: a stream cannot be retried or withheld
    assert closing.startswith(b"data: ")
    assert closing.endswith(b"\n\n")
    error = json.loads(closing[len(b"data: ") :])["error"]
    assert error["code"] == "response_format_violation"
    assert error["param"] == "response_format"
    assert "'city' is a required property" in error["message"]
    (verdict,) = [v for v in guard.verdicts if v["name"] == "schema"]
    assert verdict["outcome"] == "block"
    assert verdict["enforced"]


def test_a_valid_streamed_answer_closes_normally(guardrails: Guardrails) -> None:
    guard, _ = _guard(guardrails)
    _, closing = _stream(guard, '{"city": "Paris", "note": "a long enough answer to be streamed in pieces"}')
    assert closing == b""
    assert not [v for v in guard.verdicts if v["name"] == "schema"]


def test_a_record_only_schema_check_notes_a_streamed_violation_without_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from suite.config import GuardrailSettings

    settings = GuardrailSettings(output={"checks": {"schema": "record"}})
    guardrails = Guardrails(settings, data_dir=tmp_path)
    guardrails.load()
    guard, _ = _guard(guardrails)
    _, closing = _stream(guard, "not JSON at all, just words streamed out")
    assert closing == b""
    (verdict,) = [v for v in guard.verdicts if v["name"] == "schema"]
    assert verdict["outcome"] == "block"
    assert not verdict["enforced"]
    assert "not valid JSON" in verdict["reason"]
