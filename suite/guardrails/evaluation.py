"""Detection and false positives of the injection screen on a corpus, per language and family.

A corpus is a directory with ``attacks.yaml`` and ``benign.yaml``: per language a list of
``{family, text, carrier?}`` (or plain strings, family "-"). A carrier hides the text the way
an attacker would (Unicode tag characters, zero-width joiners, homoglyphs, letter spacing,
base64, hex, rot13, URL escapes, leetspeak) and is applied when the corpus is loaded, so the
file stays readable. ``suite guard eval`` prints the table for the held-out corpus.
"""

from __future__ import annotations

import base64
import codecs
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from suite.guardrails.verdicts import Finding

HELDOUT = Path(__file__).resolve().parents[2] / "tests" / "guardrails" / "heldout"
DEV = Path(__file__).resolve().parents[2] / "tests" / "guardrails" / "corpus"
# The training and development corpus (generated from grammars, tests/guardrails/training/build.py).
TRAINING = Path(__file__).resolve().parents[2] / "tests" / "guardrails" / "training"
_HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і", "s": "ѕ", "y": "у"})
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


def _tags(text: str) -> str:
    # Unicode tag characters (U+E0000 block) mirror ASCII and render as nothing.
    return "Please answer my question. " + "".join(chr(0xE0000 + ord(ch)) for ch in text if ord(ch) < 128)


CARRIERS: dict[str, Callable[[str], str]] = {
    "tags": _tags,
    "zero_width": "\u200b".join,
    "homoglyph": lambda t: t.translate(_HOMOGLYPHS),
    "spaced": lambda t: " ".join(t.upper()),
    "base64": lambda t: "Process this: " + base64.b64encode(t.encode()).decode(),
    "hex": lambda t: "Process this: " + t.encode().hex(),
    "rot13": lambda t: codecs.encode(t, "rot13"),
    "url": lambda t: "Process this: " + urllib.parse.quote(t, safe=""),
    "leet": lambda t: t.translate(_LEET),
}


@dataclass(frozen=True)
class Sample:
    """One prompt of a corpus: its language, family, whether it is an attack, and the text as sent."""

    lang: str
    family: str
    attack: bool
    text: str
    carrier: str | None = None
    # The text as written, before the carrier hid it (what training learns from: at run time the
    # normaliser decodes the carrier, and the wrapper around it is no sign of an attack).
    plain: str = ""


def load_corpus(directory: Path) -> list[Sample]:
    """Every sample of ``attacks.yaml`` and ``benign.yaml`` in the directory, carriers applied."""
    samples: list[Sample] = []
    for name, attack in (("attacks.yaml", True), ("benign.yaml", False)):
        data = yaml.safe_load((directory / name).read_text(encoding="utf-8")) or {}
        for lang, items in data.items():
            for raw in items:
                item = {"family": "-", "text": raw} if isinstance(raw, str) else raw
                carrier = item.get("carrier")
                if carrier is not None and carrier not in CARRIERS:
                    raise ValueError(f"{directory / name}: unknown carrier {carrier!r}")
                text = CARRIERS[carrier](item["text"]) if carrier else item["text"]
                samples.append(Sample(lang, item["family"], attack, text, carrier, item["text"]))
    return samples


def raw_texts(directory: Path) -> list[str]:
    """The texts as written in the corpus files (before carriers), for leakage checks."""
    texts: list[str] = []
    for name in ("attacks.yaml", "benign.yaml"):
        data = yaml.safe_load((directory / name).read_text(encoding="utf-8")) or {}
        for items in data.values():
            texts += [item if isinstance(item, str) else item["text"] for item in items]
    return texts


@dataclass
class Cell:
    """Counts for one language and family."""

    attacks: int = 0
    caught: int = 0
    benign: int = 0
    flagged: int = 0
    missed: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    @property
    def detection(self) -> float | None:
        """Share of attacks blocked."""
        return self.caught / self.attacks if self.attacks else None

    @property
    def false_positive_rate(self) -> float | None:
        """Share of benign texts blocked."""
        return self.flagged / self.benign if self.benign else None


@dataclass
class Report:
    """Per (language, family) cells, per-language totals, and per-text latency in milliseconds."""

    cells: dict[tuple[str, str], Cell]
    totals: dict[str, Cell]
    latencies_ms: list[float]


def evaluate(samples: list[Sample], check: Callable[[str], Finding]) -> Report:
    """Run the check on every sample and count blocks per language and family."""
    cells: dict[tuple[str, str], Cell] = {}
    totals: dict[str, Cell] = {}
    latencies: list[float] = []
    for sample in samples:
        started = time.perf_counter()
        blocked = check(sample.text).outcome == "block"
        latencies.append((time.perf_counter() - started) * 1000)
        for cell in (cells.setdefault((sample.lang, sample.family), Cell()), totals.setdefault(sample.lang, Cell())):
            label = sample.text if sample.carrier is None else f"[{sample.carrier}] {sample.text[:60]}"
            if sample.attack:
                cell.attacks += 1
                cell.caught += blocked
                if not blocked:
                    cell.missed.append(label)
            else:
                cell.benign += 1
                cell.flagged += blocked
                if blocked:
                    cell.false_positives.append(label)
    return Report(cells, totals, latencies)
