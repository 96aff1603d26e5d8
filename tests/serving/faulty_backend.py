"""A backend that misbehaves on purpose, for failure injection (never a stand-in for vLLM).

It reports itself healthy on /health, so the gateway routes to it, and then fails the
way it is told: refuse the connection, stall, answer garbage, answer 500, or die after
the first streamed event.
"""

from __future__ import annotations

import asyncio
import json
import threading
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


class ConnectionDropper:
    """A TCP proxy to a real backend that drops the connection of the first model request it sees.

    The request gets no answer at all (as when a keep-alive connection is closed under it);
    health checks and every later connection go through to the backend untouched.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dropped = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def start(self) -> ConnectionDropper:
        self._thread.start()
        serve = asyncio.start_server(self._connection, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(serve, self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()  # its self-pipe sockets, else garbage-collected later as a ResourceWarning

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        answers = asyncio.ensure_future(_pipe(upstream_reader, writer))
        try:
            while data := await reader.read(65536):
                if data.startswith(b"POST /v1/") and self.dropped == 0:
                    self.dropped += 1  # a request on a kept-alive connection, dropped unanswered
                    break
                upstream_writer.write(data)
                await upstream_writer.drain()
        except ConnectionError:
            pass
        finally:
            upstream_writer.close()
            writer.close()
            answers.cancel()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
