"""Pure ASGI middleware (no response buffering, so streams pass through untouched).

RequestContextMiddleware: gives every request an id (``x-request-id`` on every
response), logs one access line per request, and refuses bodies above the limit with
413 before they are read into memory.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suite.errors import PayloadTooLarge, error_envelope

log = structlog.get_logger("suite.access")

# A caller's own request id is kept when it looks like one (no header injection, bounded).
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class _BodyTooLarge(HTTPException):
    """Raised from receive(); FastAPI lets HTTPExceptions through its body parsing untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(self.max_body_bytes)
            return message

        try:
            if declared is not None and declared > self.max_body_bytes:
                await _send_too_large(send_with_id, self.max_body_bytes)
            else:
                await self.app(scope, limited_receive, send_with_id)
        finally:
            log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _CALLER_ID.match(candidate):
                return candidate
    return f"req_{uuid.uuid4().hex}"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, limit: int) -> None:
    error = PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    body = json.dumps(error_envelope(error.message, error.error_type, code=error.code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
