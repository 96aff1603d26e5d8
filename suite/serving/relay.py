"""Calls into a pool's backends with failover, and the SSE relay back to the client.

A request that fails before its first byte reached the client (connection refused, a
5xx, a stall past first_byte_timeout_s, an answer that is not what the API promises)
is retried once on another backend (on the same one when it is the only one and the
connection itself failed). Once bytes have gone out, a failure ends the
stream with an error event in the OpenAI shape and ``[DONE]``.

Bytes are relayed as they come; only an incomplete SSE event is held back, so that an
error can never be glued onto half an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import httpx
import structlog

from suite.config import ServingSettings
from suite.errors import BackendUnavailable, SuiteError, UpstreamTimeout, error_envelope
from suite.serving.pool import Backend, Pool
from suite.serving.protocol import Answer

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
_EVENT_END = b"\n\n"

_DONE = b"data: [DONE]" + _EVENT_END
_USAGE_MARK = b'"usage":{'


class StreamTap(Protocol):
    """Watches and may rewrite a relayed stream for the gateway: usage, content, the moment before [DONE].

    ``observe`` sees every piece of complete SSE events and returns what goes to the client
    (the piece itself, or a rewrite: masked text, a content-filter notice; empty holds it back).
    ``finish`` runs before ``[DONE]`` is released (the audit trail's closing record) and returns
    events to send just before ``[DONE]`` (e.g. citations); if it raises a SuiteError the stream
    ends with that error instead of ``[DONE]``.
    """

    @property
    def strip_usage(self) -> bool:
        """Whether the usage event is taken out of what the client gets (it did not ask for it)."""
        ...

    async def observe(self, piece: bytes) -> bytes: ...

    async def usage(self, usage: dict[str, Any]) -> None: ...

    async def finish(self, *, outcome: Literal["ok", "error"]) -> bytes: ...

    def abandon(self) -> None: ...


async def _take_usage(piece: bytes, tap: StreamTap) -> bytes:
    # Only the final usage event carries a usage object; everything else passes untouched.
    if _USAGE_MARK not in piece:
        return piece
    kept = []
    for event in piece.split(_EVENT_END):
        if _USAGE_MARK in event and event.startswith(b"data: "):
            try:
                body = json.loads(event[len(b"data: ") :])
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("usage"), dict):
                await tap.usage(body["usage"])
                if tap.strip_usage and not body.get("choices"):
                    continue
        kept.append(event)
    return _EVENT_END.join(kept)


class _AttemptFailed(Exception):
    """One backend could not serve the request; another may."""

    def __init__(self, reason: str, *, timed_out: bool = False, connection_lost: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        # The connection failed (reset, closed) before any answer: worth one more try even on the same backend.
        self.connection_lost = connection_lost


@dataclass(frozen=True)
class UpstreamReply:
    """A complete answer from a backend: its status and body.

    A 200 answer is parsed once, here, into ``answer`` (the stages read and rewrite that, and it is
    serialised once for the client); any other status keeps only its body, relayed as it came.
    """

    status_code: int
    content: bytes
    backend: str
    answer: Answer | None = None

    def body(self) -> bytes:
        """What goes to the client: the (rewritten) answer serialised, or the refusal as it came."""
        return self.answer.dump() if self.answer is not None else self.content


class UpstreamStream:
    """An answer stream whose first complete SSE event has already arrived."""

    status_code = 200

    def __init__(
        self, *, backend: Backend, first_events: bytes, rest: AsyncIterator[bytes], exits: AsyncExitStack
    ) -> None:
        self.backend = backend
        self._first_events = first_events
        self._rest = rest
        self._exits = exits

    async def aclose(self) -> None:
        """Give the stream up without reading it (closes the upstream connection)."""
        await self._exits.aclose()

    async def events(self, tap: StreamTap | None = None) -> AsyncIterator[bytes]:
        """The stream's bytes, cut at event boundaries; ends with an error event if the backend fails."""
        try:
            async for complete in self._complete_events():
                if tap is None:
                    yield complete
                elif piece := await _through_tap(complete, tap):
                    yield piece
            self.backend.record_success()
        except httpx.HTTPError as exc:
            self.backend.record_failure()
            log.warning("backend failed mid-stream", backend=self.backend.url, error=type(exc).__name__)
            # What the tap still held back (e.g. the guardrails' masking window) was fine to send.
            if tap is not None and (held := await _finish_quietly(tap)):
                yield held
            yield error_event("The model backend failed while streaming; the answer is incomplete.")
        except SuiteError as exc:  # the tap refused to close (e.g. the audit trail is down)
            yield error_event(exc.message, code=exc.code or "server_error")
        except (asyncio.CancelledError, GeneratorExit):
            if tap is not None:
                tap.abandon()
            raise
        finally:
            await self._exits.aclose()

    async def _complete_events(self) -> AsyncIterator[bytes]:
        yield self._first_events
        pending = b""
        async for chunk in self._rest:
            pending += chunk
            cut = pending.rfind(_EVENT_END)
            if cut >= 0:
                cut += len(_EVENT_END)
                yield pending[:cut]
                pending = pending[cut:]
        if pending:
            yield pending


async def _through_tap(events: bytes, tap: StreamTap) -> bytes:
    # What the client gets of these events: usage taken, the tap's rewrite, and at the end
    # the tap's closing events (after its closing record is durable) before [DONE].
    piece = await _take_usage(events, tap)
    done = piece.endswith(_DONE)
    if done:
        piece = piece[: -len(_DONE)]
    if piece:
        piece = await tap.observe(piece)
    if done:
        piece += await tap.finish(outcome="ok") + _DONE
    return piece


async def _finish_quietly(tap: StreamTap) -> bytes:
    # The stream already failed; a failing closing record cannot make it worse.
    with contextlib.suppress(SuiteError):
        return await tap.finish(outcome="error")
    return b""


def error_event(message: str, *, code: str = "backend_failed") -> bytes:
    """An SSE error event in the OpenAI error shape, followed by the stream's end."""
    body = error_envelope(message, "server_error", code=code)
    return b"data: " + json.dumps(body).encode() + _EVENT_END + b"data: [DONE]" + _EVENT_END


class Relay:
    """Sends OpenAI API requests to a pool's backends over one shared keep-alive client."""

    def __init__(self, settings: ServingSettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)

    async def post(self, pool: Pool, path: str, body: bytes, *, request_id: str) -> UpstreamReply:
        """A non-streamed request: the backend's whole answer."""

        async def attempt(backend: Backend) -> UpstreamReply:
            with backend.lease():
                try:
                    response = await self._client.post(
                        backend.url + path, content=body, headers=_headers(request_id), timeout=self._timeout
                    )
                except httpx.TimeoutException as exc:
                    raise _AttemptFailed("timed out", timed_out=True) from exc
                except httpx.HTTPError as exc:
                    lost = isinstance(exc, httpx.TransportError)
                    raise _AttemptFailed(type(exc).__name__, connection_lost=lost) from exc
            if response.status_code >= 500:
                raise _AttemptFailed(f"status {response.status_code}")
            answer = None
            if response.status_code == 200:
                try:
                    answer = Answer.parse(response.content)
                except ValueError as exc:
                    raise _AttemptFailed("answer is not a chat or completion answer") from exc
            backend.record_success()
            return UpstreamReply(response.status_code, response.content, backend.url, answer)

        return await self._with_failover(pool, attempt)

    async def stream(self, pool: Pool, path: str, body: bytes, *, request_id: str) -> UpstreamStream | UpstreamReply:
        """A streamed request: an open stream, or the backend's complete refusal (a 4xx)."""

        async def attempt(backend: Backend) -> UpstreamStream | UpstreamReply:
            exits = AsyncExitStack()
            exits.enter_context(backend.lease())
            try:
                async with asyncio.timeout(self._settings.first_byte_timeout_s):
                    request = self._client.build_request(
                        "POST", backend.url + path, content=body, headers=_headers(request_id), timeout=self._timeout
                    )
                    response = await self._client.send(request, stream=True)
                    exits.push_async_callback(response.aclose)
                    if response.status_code != 200:
                        content = await response.aread()
                        if response.status_code >= 500:
                            raise _AttemptFailed(f"status {response.status_code}")
                        await exits.aclose()
                        return UpstreamReply(response.status_code, content, backend.url)
                    chunks = response.aiter_raw()
                    first = b""
                    while _EVENT_END not in first:
                        first += await anext(chunks)
            except BaseException as exc:
                await exits.aclose()
                if isinstance(exc, TimeoutError | httpx.TimeoutException):
                    raise _AttemptFailed("no first byte in time", timed_out=True) from exc
                if isinstance(exc, httpx.HTTPError | StopAsyncIteration):
                    lost = isinstance(exc, httpx.TransportError)
                    raise _AttemptFailed(type(exc).__name__, connection_lost=lost) from exc
                raise
            if not first.startswith(b"data:"):
                await exits.aclose()
                raise _AttemptFailed("answer is not an SSE stream")
            cut = first.rfind(_EVENT_END) + len(_EVENT_END)
            rest = _prepend(first[cut:], chunks)
            return UpstreamStream(backend=backend, first_events=first[:cut], rest=rest, exits=exits)

        return await self._with_failover(pool, attempt)

    async def _with_failover(self, pool: Pool, attempt: Callable[[Backend], Awaitable[_T]]) -> _T:
        tried: set[str] = set()
        last: _AttemptFailed | None = None
        for _ in range(2):  # the first try and one retry on another backend
            backend = pool.pick(exclude=tried)
            if backend is None and last is not None and last.connection_lost:
                # No other backend: a dropped connection (a keep-alive race, a reset) gets one retry on the same.
                backend = pool.pick()
            if backend is None:
                break
            tried.add(backend.url)
            try:
                return await attempt(backend)
            except _AttemptFailed as exc:
                backend.record_failure()
                log.warning("backend attempt failed", model=pool.model, backend=backend.url, reason=exc.reason)
                last = exc
        if last is not None and last.timed_out:
            raise UpstreamTimeout(f"The model '{pool.model}' did not answer in time.")
        raise BackendUnavailable(
            f"The model '{pool.model}' is temporarily unavailable.", retry_after_s=self._settings.retry_after_s
        )


async def _prepend(head: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in chunks:
        yield chunk


def _headers(request_id: str) -> dict[str, str]:
    return {"content-type": "application/json", "x-request-id": request_id}
