"""CPU time of the stream guard for one streamed 64-token answer, before and after the prefix test.

    .venv/bin/python benchmarks/stream_guard.py [--answers 30] [--results benchmarks/RESULTS.md]

Feeds the SSE events of a 64-token answer (one event per token, as vLLM streams them) through
``StreamGuard`` with real presidio (blank spaCy pipelines, the default recognizers), in two ways
side by side, interleaved answer by answer:

- "word hold": the last words that could be part of a value are held and presidio searches the
  held text on every event (the guard before the prefix test; what it still does with NER);
- "prefix test": text is held only from where a recognizer's pattern could still match, and
  presidio runs only on released text that holds a complete match (suite/guardrails/holdback.py).

Two answers: plain prose, and prose with an e-mail address, a phone number and an IBAN. CPU is
the process's CPU time per answer (presidio runs on a worker thread, which it includes), so a
busy machine slows the numbers less than wall-clock time; the ratio is what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import machine_line  # benchmarks/ is on sys.path: run as a script

from suite.config import GuardrailSettings
from suite.guardrails import Guardrails, PiiMasker, StreamGuard, Vault
from suite.observability import enforce_offline

PROSE = (
    "The meeting with the supplier is moved to the small room on the second floor, and the agenda "
    "stays as it was: first the delivery dates for the new parts, then the open questions about the "
    "contract, and at the end a short look at the budget for next year, which the team will prepare."
)
WITH_PII = (
    "Please write to erika.mustermann@beispiel.de or call +49 30 12345678 before Friday; the payment "
    "goes to DE89 3704 0044 0532 0130 00 as agreed, and the rest of the contract stays as it was, "
    "with the delivery dates for the new parts first."
)
_TOKEN = re.compile(r" ?[A-Za-zÄÖÜäöüß]{1,7}| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+")


def tokens_of(text: str, count: int = 64) -> list[str]:
    """Token-like pieces (a leading space, at most 7 letters or 3 digits), the first count of them."""
    return _TOKEN.findall(text)[:count]


def events(tokens: list[str]) -> list[bytes]:
    def chunk(text: str, finish: str | None) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    return [chunk(t, None) for t in tokens] + [chunk("", "length"), b"data: [DONE]\n\n"]


class Counting:
    def __init__(self, pii: PiiMasker) -> None:
        self.pii, self.calls = pii, 0

    def __call__(self, text: str) -> list:  # type: ignore[type-arg]
        self.calls += 1
        return self.pii.spans(text)


async def one_answer(pii: PiiMasker, pieces: list[bytes], *, prefix: bool) -> tuple[float, int, str]:
    """CPU ms for one answer, presidio calls, and the text the client got."""
    spans = Counting(pii)
    guard = StreamGuard(spans=spans, vault=Vault(), window=64, starts=pii.value_starts if prefix else None)
    started = time.process_time()
    out = [await guard.feed(piece) for piece in pieces]
    out.append(await guard.flush())
    cpu = (time.process_time() - started) * 1000
    return cpu, spans.calls, "".join(guard.sent.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=30, help="answers per way and text")
    parser.add_argument("--results", type=Path, help="append a section to this markdown file")
    args = parser.parse_args()
    enforce_offline()
    guardrails = Guardrails(GuardrailSettings(), data_dir=Path(tempfile.mkdtemp(prefix="stream-bench-")))
    guardrails.load()
    pii = guardrails.pii
    assert pii is not None
    assert pii.value_starts is not None
    rows = []
    for name, text in (("prose", PROSE), ("prose with e-mail, phone, IBAN", WITH_PII)):
        pieces = events(tokens_of(text))
        asyncio.run(one_answer(pii, pieces, prefix=True))  # warm-up
        results: dict[bool, list[tuple[float, int, str]]] = {False: [], True: []}
        for _ in range(args.answers):
            for prefix in (False, True):
                results[prefix].append(asyncio.run(one_answer(pii, pieces, prefix=prefix)))
        before, after = results[False], results[True]
        assert before[0][2] == after[0][2], "both ways must send the same text"
        rows.append(
            (
                name,
                statistics.median(r[0] for r in before),
                statistics.median(r[0] for r in after),
                before[0][1],
                after[0][1],
            )
        )
    lines = [
        "| Answer (64 tokens) | Word hold CPU ms p50 | Prefix test CPU ms p50 | Ratio"
        " | presidio calls before / after |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, cpu_before, cpu_after, calls_before, calls_after in rows:
        ratio = cpu_after / cpu_before
        lines.append(f"| {name} | {cpu_before:.1f} | {cpu_after:.2f} | {ratio:.3f} | {calls_before} / {calls_after} |")
    table = "\n".join(lines)
    print(table)
    if args.results:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            "\n## Stream guard alone (CPU per streamed 64-token answer)\n\n"
            "- Command: `.venv/bin/python benchmarks/stream_guard.py"
            f" --answers {args.answers} --results {args.results}`\n"
            f"- Machine: {machine_line()} at the end (other work running)\n"
            f"- Date: {when}\n\n{table}\n"
        )
        with args.results.open("a", encoding="utf-8") as out:
            out.write(section)


if __name__ == "__main__":
    main()
