"""Stages 2 and 5 of a model request (``pipeline``): the guardrails around it, the glue to ``suite.guardrails``.

Input: every turn's PII is masked (reversibly, with the request's vault), user turns are
checked for injection and by Llama Guard. Output: the answer is masked, judged and, when
the request asked for a JSON schema, validated (with one retry carrying the validation
error). Streams go through a ``StreamGuard``. The model and the audit trail only ever see
placeholders; the caller's own values are put back in what the caller receives.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from suite.config import GuardCheck
from suite.errors import ContentBlocked, GuardrailUnavailable, OutputSchemaViolation, error_envelope
from suite.gateway.openai.protocol import ChatCompletionRequest, CompletionRequest
from suite.guardrails import (
    Guardrails,
    Scope,
    Screened,
    Stage,
    StreamGuard,
    Vault,
    Verdict,
    content_text,
    requested_schema,
    violation,
    with_content_text,
)
from suite.serving import Answer, UpstreamReply

Resend = Callable[[bytes], Awaitable[UpstreamReply]]


class RequestGuard:
    """One request's guardrails: verdicts, the placeholder vault and the stream guard."""

    def __init__(self, guardrails: Guardrails | None, *, scope: Scope) -> None:
        self._guardrails = guardrails
        self._scope = scope
        self._vault = Vault()
        self._verdicts: list[Verdict] = []
        self._masked: dict[str, str] = {}  # audit masking already done on a worker
        self._prompt: str | None = None
        self._schema: dict[str, Any] | None = None
        self._stream: StreamGuard | None = None
        self._stream_untouched = False

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        """The verdicts so far, as the audit record keeps them (findings only; clean checks are left out)."""
        return [v.as_record() for v in self._verdicts if v.outcome != "allow" or v.name == "llamaguard"]

    @property
    def masked_texts(self) -> dict[str, str]:
        """Texts the guardrails already masked (text -> masked), so the audit record need not mask them again."""
        return self._masked

    # ---- input ---------------------------------------------------------------------------

    async def check_input(self, body: ChatCompletionRequest | CompletionRequest) -> Any:
        """The request with its turns masked; ContentBlocked when an enforced check blocks."""
        if self._guardrails is None:
            return body
        if isinstance(body, CompletionRequest):
            if not isinstance(body.prompt, str):
                return body  # token ids: nothing to read
            (screened,) = await self._screen([body.prompt], "input")
            self._prompt = screened.text
            return body.model_copy(update={"prompt": screened.text})
        self._schema = requested_schema(body.response_format)
        messages = [m.model_copy() for m in body.messages]
        # String content and content parts alike: the text parts are what the model reads.
        texts = {id(m): content_text(m.content) for m in messages}
        users = [m for m in messages if m.role == "user" and texts[id(m)] is not None]
        others = [m for m in messages if m.role != "user" and texts[id(m)]]
        # Other turns (system, earlier answers) may hold PII too; injection is judged on user turns.
        pii_only: tuple[GuardCheck, ...] = ("injection", "llamaguard")
        for batch, skip in ((users, ()), (others, pii_only)):
            results = await self._screen([str(texts[id(m)]) for m in batch], "input", skip=skip)
            for message, result in zip(batch, results, strict=True):
                message.content = with_content_text(message.content, result.text)
        self._prompt = content_text(users[-1].content) if users else None
        return body.model_copy(update={"messages": messages})

    def masked_header(self) -> dict[str, str]:
        """``x-suite-masked``: how many values of each kind were masked in the caller's own request so far
        (e.g. ``EMAIL_ADDRESS=2``), so a client can say so; the kinds and counts only, never the values."""
        counts: dict[str, int] = {}
        for placeholder in self._vault.by_placeholder:  # "<EMAIL_ADDRESS_2>"
            kind = placeholder[1:-1].rsplit("_", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return {"x-suite-masked": ",".join(f"{k}={n}" for k, n in sorted(counts.items()))} if counts else {}

    async def mask_context(self, text: str) -> str:
        """Text the gateway adds to the prompt (grounding sources), PII-masked like the caller's own turns."""
        if self._guardrails is None:
            return text
        (screened,) = await self._screen([text], "input", skip=("injection", "llamaguard"))
        return screened.text

    # ---- non-streamed output -------------------------------------------------------------

    async def check_reply(self, reply: UpstreamReply, *, payload: dict[str, Any], resend: Resend) -> UpstreamReply:
        """The answer masked and judged, and (asked for) every choice valid against the schema, retried once if not."""
        if self._guardrails is None or reply.answer is None:
            return reply
        await self._guard_answer(reply.answer)
        checks = self._guardrails.checks("output", self._scope)
        if self._schema is None or "schema" not in checks:
            return reply
        problem = _schema_problem(reply.answer, self._schema)
        if problem and self._guardrails.settings.output_schema.retry and "messages" in payload:
            text, reason = problem
            retry = {**payload, "messages": [*payload["messages"], *_retry_turns(text, reason)]}
            self._note("schema", "mask", f"retried: {reason}", 1.0, enforced=True)
            reply = await resend(json.dumps(retry).encode())
            if reply.answer is not None:
                await self._guard_answer(reply.answer)
            problem = _schema_problem(reply.answer, self._schema) if reply.answer is not None else None
        if problem:
            enforced = checks["schema"] == "enforce"
            self._note("schema", "block", problem[1], 1.0, enforced=enforced)
            if enforced:
                raise OutputSchemaViolation(f"The answer does not match the requested schema: {problem[1]}.")
        return reply

    def reveal(self, answer: Answer) -> None:
        """What the caller receives: their own placeholders replaced by their own values again (in place)."""
        if not self._vault.by_placeholder:
            return
        for choice in answer.choices:
            if isinstance(text := choice.content, str):
                choice.set_content(self._vault.reveal(text))

    async def _guard_answer(self, answer: Answer) -> None:
        # Each choice's text masked and judged, in place.
        for choice in answer.choices:
            text = choice.content
            if not isinstance(text, str) or not text:
                continue
            (screened,) = await self._screen([text], "output")
            self._masked[text] = screened.text
            choice.set_content(screened.text)

    # ---- streams -------------------------------------------------------------------------

    async def observe(self, piece: bytes) -> bytes:
        """A piece of the stream as the caller gets it (masked, revealed, held back, or stopped)."""
        stream = self._stream_guard()
        return piece if stream is None else await stream.feed(piece)

    def streamed_answer(self) -> list[str] | None:
        """The streamed answer's texts as released (masked, not revealed), or None when no stream guard ran."""
        if self._stream is None:
            return None
        return [text for _, text in sorted(self._stream.recorded.items())]

    async def finish_stream(self) -> bytes:
        """Whatever is still held back, then a schema error event if the answer broke the schema."""
        stream = self._stream_guard()
        if stream is None:
            return b""
        tail = await stream.flush()
        return tail + self._streamed_schema_error(stream)

    def _streamed_schema_error(self, stream: StreamGuard) -> bytes:
        # A streamed answer has already gone out: it cannot be retried or withheld. It is
        # validated once complete, and a violation ends the stream with an error event
        # naming it (before [DONE]) instead of passing silently.
        assert self._guardrails is not None
        mode = self._guardrails.checks("output", self._scope).get("schema")
        if self._schema is None or mode is None or stream.blocked is not None:
            return b""
        for index, text in sorted(stream.sent.items()):
            problem = violation(text, self._schema)
            if problem is None:
                continue
            where = f" (choice {index})" if len(stream.sent) > 1 else ""
            self._note("schema", "block", f"streamed answer{where}: {problem}", 1.0, enforced=mode == "enforce")
            if mode != "enforce":
                return b""
            error = OutputSchemaViolation(
                f"The streamed answer{where} does not match the requested schema: {problem}.", param="response_format"
            )
            body = error_envelope(error.message, error.error_type, param=error.param, code=error.code)
            return b"data: " + json.dumps(body).encode() + b"\n\n"
        return b""

    def _stream_guard(self) -> StreamGuard | None:
        if self._guardrails is None or self._stream_untouched:
            return None
        if self._stream is None:
            checks = self._guardrails.checks("output", self._scope)
            pii = self._guardrails.pii if checks.get("pii") == "enforce" else None
            judged = "llamaguard" in checks
            validated = self._schema is not None and "schema" in checks
            if pii is None and not judged and not validated and not self._vault.by_placeholder:
                # Nothing to mask, judge, validate or reveal: the stream passes as it comes, never held back.
                self._stream_untouched = True
                return None
            self._stream = StreamGuard(
                spans=pii.spans if pii else None,
                vault=self._vault,
                window=self._guardrails.settings.pii.stream_window_chars,
                judge=self._judge if judged else None,
                pool=self._guardrails.presidio_pool,
                starts=pii.value_starts if pii else None,
            )
        return self._stream

    async def _judge(self, answer: str) -> Verdict | None:
        assert self._guardrails is not None
        finding = await self._guardrails.safety(answer, role="assistant", prompt=self._prompt)
        mode = self._guardrails.checks("output", self._scope).get("llamaguard", "record")
        verdict = Verdict("llamaguard", "output", finding.outcome, finding.reason, finding.score, mode == "enforce")
        if verdict.outcome != "allow":
            self._verdicts.append(verdict)
        return verdict if verdict.blocks else None

    # ---- shared --------------------------------------------------------------------------

    async def _screen(self, texts: list[str], stage: Stage, *, skip: tuple[GuardCheck, ...] = ()) -> list[Screened]:
        assert self._guardrails is not None
        results = await self._guardrails.screen(
            texts,
            stage=stage,
            scope=self._scope,
            vault=self._vault,
            skip=skip,
            prompt=self._prompt,
        )
        for result in results:
            self._verdicts += result.verdicts
            if blocked := result.blocked_by:
                if blocked.details.get("unavailable"):
                    raise GuardrailUnavailable(f"The {blocked.name} guardrail could not decide: {blocked.reason}.")
                raise ContentBlocked(f"Refused by the {blocked.name} guardrail ({stage}): {blocked.reason}.")
        return results

    def _note(self, name: str, outcome: Any, reason: str, score: float, *, enforced: bool) -> None:
        self._verdicts.append(Verdict(name, "output", outcome, reason, score, enforced))


def _schema_problem(answer: Answer, schema: dict[str, Any]) -> tuple[str, str] | None:
    """The first choice that breaks the schema: its text and the violation (every choice is checked)."""
    texts = [choice.content or "" for choice in answer.choices] or [""]
    for index, text in enumerate(texts):
        if (problem := violation(text, schema)) is not None:
            where = f" (choice {index})" if len(texts) > 1 else ""
            return text, problem + where
    return None


def _retry_turns(answer: str, problem: str) -> list[dict[str, str]]:
    return [
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": f"That answer does not match the required JSON schema: {problem}. "
            "Answer again with only a JSON document that matches the schema.",
        },
    ]
