"""A backend that misbehaves on purpose, for failure injection (never a stand-in for vLLM).

It reports itself healthy on /health, so the gateway routes to it, and then fails the
way it is told: refuse the connection, stall, answer garbage, answer 500, or die after
the first streamed event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import ServerThread

Fault = Literal["stall", "garbage", "error_500", "die_mid_stream"]


class FaultyBackend:
    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.hits = 0
        self.server = ServerThread(
            Starlette(
                routes=[
                    Route("/health", self._health),
                    Route("/v1/chat/completions", self._answer, methods=["POST"]),
                    Route("/v1/completions", self._answer, methods=["POST"]),
                ]
            )
        )

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FaultyBackend:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def _health(self, request: Request) -> Response:
        return Response(status_code=200)

    async def _answer(self, request: Request) -> Response:
        self.hits += 1
        body = await request.json()
        if self.fault == "stall":
            await asyncio.sleep(3600)
        if self.fault == "error_500":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if self.fault == "garbage":
            if body.get("stream"):
                return StreamingResponse(iter([b"<html>not an event stream</html>\n\n"]), media_type="text/html")
            return Response(b"<html>definitely not json", media_type="text/html")
        # die_mid_stream: one valid event, then the connection drops.
        return StreamingResponse(self._one_event_then_die(body["model"]), media_type="text/event-stream")

    async def _one_event_then_die(self, model: str) -> object:
        event = {
            "id": "chatcmpl-faulty",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(event)}\n\n".encode()
        await asyncio.sleep(0.1)
        raise ConnectionResetError("backend died mid-stream")
