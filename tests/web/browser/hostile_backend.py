"""A backend whose "model" answers with an XSS payload, streamed in small pieces (failure injection:
the demo model cannot be made to emit exact markup). Split mid-tag, so partial renders see broken HTML."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PAYLOAD = (
    "Here is **bold** text.\n\n"
    "<script>window.__xss = 'script'</script>\n\n"
    "<img src=x onerror=\"window.__xss = 'img'\">\n\n"
    "[click me](javascript:window.__xss='link')\n\n"
    "![tracker](http://203.0.113.7/pixel.png)\n\n"
    '<a href="javascript:alert(1)">raw link</a> <svg onload="window.__xss=\'svg\'"></svg>\n\n'
    "```python\nprint('<b>not bold</b>')\n```\n"
)


def _event(model: str, piece: str) -> str:
    chunk = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


def _chunks(model: str) -> list[str]:
    pieces = [PAYLOAD[i : i + 7] for i in range(0, len(PAYLOAD), 7)]
    events = [_event(model, piece) for piece in pieces]
    done = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 5 + len(pieces)},
    }
    # Compact like vLLM's (the gateway spots the usage event by its bytes).
    return [*events, f"data: {json.dumps(done, separators=(',', ':'))}\n\n", "data: [DONE]\n\n"]


async def _health(request: Request) -> Response:
    return Response(status_code=200)


async def _chat(request: Request) -> Response:
    body = await request.json()
    model = body.get("model", "hostile")
    if not body.get("stream"):
        return JSONResponse(
            {
                "id": "chatcmpl-hostile",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": PAYLOAD}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 50, "total_tokens": 55},
            }
        )

    # A request for a long story streams slowly (about 20 s), so that a test can stop it mid-way.
    slow = "long story" in json.dumps(body.get("messages", []))

    async def stream() -> AsyncIterator[str]:
        if slow:
            for _ in range(200):
                yield _event(model, "Once upon a time ")
                await asyncio.sleep(0.1)
        for event in _chunks(model):
            yield event

    return StreamingResponse(stream(), media_type="text/event-stream")


def hostile_app() -> Starlette:
    """The hostile backend's app: /health and /v1/chat/completions."""
    return Starlette(routes=[Route("/health", _health), Route("/v1/chat/completions", _chat, methods=["POST"])])
