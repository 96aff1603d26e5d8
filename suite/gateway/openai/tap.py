"""The one adapter between the relay (below the gateway) and a request's stages: ``serving.StreamTap``.

The relay calls it for each piece of complete SSE events, for the usage event and before
``[DONE]``; it hands each call to the stage that owns it (the stream guard, the quota, the
recorder) and knows nothing else of the request.
"""

from __future__ import annotations

from typing import Any, Literal

from suite.auth import QuotaEnforcer
from suite.gateway.openai.context import ModelRequest
from suite.gateway.openai.recording import CallRecorder


async def charge_usage(call: ModelRequest, quotas: QuotaEnforcer, usage: dict[str, Any]) -> None:
    """Keep the backend's token usage on the context and charge it to the caller's quota."""
    call.usage = usage
    tokens = usage.get("total_tokens")
    if isinstance(tokens, int):
        await quotas.charge_tokens(call.principal, tokens)


class RelayTap:
    """A stream's tap (``suite.serving.StreamTap``) for one request."""

    def __init__(self, call: ModelRequest, recorder: CallRecorder, quotas: QuotaEnforcer) -> None:
        self._call = call
        self._recorder = recorder
        self._quotas = quotas

    @property
    def strip_usage(self) -> bool:
        """Whether the usage event goes out (only when the client asked for it)."""
        return self._call.strip_usage

    async def observe(self, piece: bytes) -> bytes:
        """The piece as the client gets it: masked, revealed, held back or stopped by the stream guard."""
        shown = await self._call.guard.observe(piece)
        if self._call.content != "none" and self._call.guard.streamed_answer() is None:
            self._recorder.keep_stream(piece)  # no stream guard keeps the text: parsed once, at the end
        return shown

    async def usage(self, usage: dict[str, Any]) -> None:
        """The backend's usage event."""
        await charge_usage(self._call, self._quotas, usage)

    async def finish(self, *, outcome: Literal["ok", "error"]) -> bytes:
        """The guardrails' held-back tail, the closing record (before [DONE]), then the citations."""
        held = await self._call.guard.finish_stream()
        await self._recorder.record(status=outcome, http_status=200)
        grounded = self._call.grounded
        return held + (grounded.citations_event() if grounded is not None else b"")

    def abandon(self) -> None:
        """The client went away mid-stream."""
        self._recorder.abandon()
