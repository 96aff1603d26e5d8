"""Added latency of the guardrails' PII and rule checks at about 100 and 1,000 tokens.

    .venv/bin/python benchmarks/guardrails.py [--runs 50]

Runs the input stage (PII masking with presidio, blank spaCy pipelines, plus the injection
rules) on realistic mixed German/English text with a few PII values, as the gateway does
on a worker thread, and prints p50/p95 per size. Target: p95 <= 25 ms at 1k tokens.
The CPU column (process CPU time per call, p50) leaves out the time spent waiting for a core,
so on a busy machine it tells the code's own cost apart from queueing (shared hyper-threads
still slow it down somewhat).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from suite.config import GuardrailSettings
from suite.guardrails import Guardrails, Scope, Vault
from suite.observability import enforce_offline

PARAGRAPH = (
    "Please summarise the attached contract for the customer meeting next Tuesday. "
    "Der Vertrag läuft bis Ende des Jahres und kann mit drei Monaten Frist gekündigt werden. "
    "Questions go to erika.mustermann@beispiel.de or +49 30 12345678; payments to DE89 3704 0044 0532 0130 00. "
    "Die Kosten steigen um zwei Prozent, und die Wartung ist im Preis enthalten. "
)


def text_of(tokens: int) -> str:
    # About 1.3 tokens per word for this mix (the demo model's tokenizer counts ~75 tokens per paragraph).
    words = PARAGRAPH.split()
    out: list[str] = []
    while len(out) * 1.3 < tokens:
        out += words
    return " ".join(out[: int(tokens / 1.3)])


async def measure(guardrails: Guardrails, text: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each run of the input stage on the text."""
    scope = Scope(route="chat", model="bench")
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        await guardrails.screen([text], stage="input", scope=scope, vault=Vault())
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    enforce_offline()
    guardrails = Guardrails(GuardrailSettings(), data_dir=Path(tempfile.mkdtemp(prefix="guard-bench-")))
    guardrails.load()
    asyncio.run(measure(guardrails, text_of(100), 5))  # warm-up
    print("| size | p50 ms | p95 ms | max ms | CPU p50 ms |")
    print("|---|---|---|---|---|")
    for tokens in (100, 1000):
        wall, cpu = asyncio.run(measure(guardrails, text_of(tokens), args.runs))
        samples = sorted(wall)
        p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
        median, cpu_median = statistics.median(samples), statistics.median(cpu)
        print(f"| ~{tokens} tokens | {median:.1f} | {p95:.1f} | {samples[-1]:.1f} | {cpu_median:.1f} |")


if __name__ == "__main__":
    main()
