"""A stand-in for vLLM's streaming chat endpoint, for measuring the gateway's own CPU alone.

    .venv/bin/python benchmarks/standin_engine.py --port 8199 [--token-ms 25]

Streams ``max_tokens`` chunks of English prose in vLLM's SSE shape (a role chunk, one chunk per
token, a finish chunk, a usage chunk when asked, ``[DONE]``), one every ``--token-ms``
milliseconds, with no model behind it: ``gateway_overhead.py --stand-in`` runs it instead of
vLLM, so that the gateway's CPU per request and its added delay can be read without an engine
sharing the machine's CPUs. Never a stand-in for vLLM in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PROSE = (
    "The meeting with the supplier is moved to the small room on the second floor, and the agenda "
    "stays as it was: first the delivery dates for the new parts, then the open questions about the "
    "contract, and at the end a short look at the budget for next year, which the team will prepare "
    "in the weeks before the review, together with the notes from the last call and a plan for the "
    "training of the new colleagues in the warehouse and in the office."
)
TOKENS = re.findall(r" ?[A-Za-z]{1,7}| ?[^\sA-Za-z]", PROSE)


def app(token_s: float) -> Starlette:
    async def health(request: Request) -> Response:
        return Response(status_code=200)

    async def chat(request: Request) -> Response:
        body = await request.json()
        count = int(body.get("max_tokens") or 16)
        model = body.get("model", "standin")
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if not body.get("stream"):
            text = "".join(TOKENS[i % len(TOKENS)] for i in range(count))
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
            return JSONResponse(
                {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [choice],
                    "usage": _usage(count),
                }
            )
        return StreamingResponse(_events(model, count, usage, token_s), media_type="text/event-stream")

    return Starlette(routes=[Route("/health", health), Route("/v1/chat/completions", chat, methods=["POST"])])


def _usage(count: int) -> dict[str, int]:
    return {"prompt_tokens": 20, "completion_tokens": count, "total_tokens": 20 + count}


async def _events(model: str, count: int, usage: bool, token_s: float) -> AsyncIterator[bytes]:
    base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def event(choices: list[dict[str, object]], **extra: object) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
    for i in range(count):
        await asyncio.sleep(token_s)
        delta = {"content": TOKENS[i % len(TOKENS)]}
        yield event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}])
    if usage:
        yield event([], usage=_usage(count))
    yield b"data: [DONE]\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-ms", type=float, default=25)
    args = parser.parse_args()
    uvicorn.run(app(args.token_ms / 1000), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
