"""Prompt-injection and jailbreak detection: rules from data files, plus an optional classifier.

Rules are regular expressions in YAML (``data/injection.yaml`` and any files the settings
add), German and English, in four families: instruction override, role play to drop the
rules, system-prompt extraction, encoded payloads. Text is normalised first (Unicode
NFKC, zero-width characters removed, whitespace collapsed); base64, hex and rot13 runs
are decoded and matched again, so an encoded attack scores like a plain one.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from suite.guardrails.prefilter import fold, required_literals
from suite.guardrails.verdicts import ALLOW, Finding, Outcome

BUILTIN_RULES = Path(__file__).parent / "data" / "injection.yaml"
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"\s+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){12,}")
_ROT13_HINT = re.compile(r"\brot-?13\b|\bcaesar\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """One detection rule: a compiled pattern, what it means and how much a hit weighs."""

    id: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    # Folded strings one of which every match contains (None: unknown, always run the pattern).
    anchors: frozenset[str] | None = None

    def could_match(self, folded: str) -> bool:
        """False when the text (folded) lacks every anchor, so the pattern cannot match it."""
        return self.anchors is None or any(anchor in folded for anchor in self.anchors)


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched, and where (in the normalised or decoded text)."""

    rule: Rule
    decoded_from: str | None = None


def load_rules(extra_files: list[Path] | None = None) -> list[Rule]:
    """The built-in rules plus the admin's files; a later rule with the same id replaces an earlier one."""
    rules: dict[str, Rule] = {}
    for path in [BUILTIN_RULES, *(extra_files or [])]:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for spec in data.get("rules") or []:
            try:
                pattern = re.compile(spec["pattern"], re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"{path}: rule {spec.get('id')!r}: invalid pattern: {exc}") from exc
            anchors = required_literals(pattern)
            rules[spec["id"]] = Rule(spec["id"], spec["category"], float(spec["weight"]), pattern, anchors)
    return list(rules.values())


def normalise(text: str) -> str:
    """The text as the rules see it: NFKC, no zero-width characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", _ZERO_WIDTH.sub("", text))


def decoded_payloads(text: str) -> list[tuple[str, str]]:
    """(encoding, decoded text) for every base64 or hex run that decodes to readable text, and rot13."""
    found: list[tuple[str, str]] = []
    for run in _BASE64_RUN.findall(text):
        decoded = _readable(_b64decode(run))
        if decoded:
            found.append(("base64", decoded))
    for run in _HEX_RUN.findall(text):
        try:
            decoded = _readable(bytes.fromhex(re.sub(r"[\s:]", "", run)))
        except ValueError:
            decoded = None
        if decoded:
            found.append(("hex", decoded))
    if _ROT13_HINT.search(text):  # rot13 text has no other tell; matching it blindly doubles the cost
        found.append(("rot13", codecs.decode(text, "rot13")))
    return found


class RuleDetector:
    """Matches the rules against a text and its decoded payloads.

    A rule's pattern runs only when the text holds one of its anchors (see ``prefilter``):
    a substring test costs microseconds, a pattern search over 1k tokens a few hundred.
    """

    def __init__(self, rules: list[Rule], *, threshold: float) -> None:
        self.rules = rules
        self._threshold = threshold
        # Rules share anchors ("instruction", "regeln"): each is looked for once per text.
        self._anchors = sorted({anchor for rule in rules for anchor in rule.anchors or ()})

    def hits(self, text: str) -> list[RuleHit]:
        """Every rule that matches the text, or a payload decoded from it."""
        plain = normalise(text)
        hits = [RuleHit(rule) for rule in self._matching(plain)]
        seen = {hit.rule.id for hit in hits}
        for encoding, decoded in decoded_payloads(plain):
            for rule in self._matching(normalise(decoded), skip=seen):
                hits.append(RuleHit(rule, decoded_from=encoding))
                seen.add(rule.id)
        return hits

    def _matching(self, plain: str, *, skip: set[str] | frozenset[str] = frozenset()) -> list[Rule]:
        folded = fold(plain)
        present = {anchor for anchor in self._anchors if anchor in folded}
        return [
            rule
            for rule in self.rules
            if rule.id not in skip
            and (rule.anchors is None or not rule.anchors.isdisjoint(present))
            and rule.pattern.search(plain)
        ]

    def check(self, text: str) -> Finding:
        """Block when the strongest hit weighs at least the threshold."""
        hits = self.hits(text)
        if not hits:
            return ALLOW
        top = max(hits, key=lambda h: h.rule.weight)
        category = "encoded_payload" if top.decoded_from else top.rule.category
        rules = [h.rule.id + (f" ({h.decoded_from})" if h.decoded_from else "") for h in hits]
        outcome: Outcome = "block" if top.rule.weight >= self._threshold else "allow"
        reason = f"{category.replace('_', ' ')} ({top.rule.id})"
        return Finding(outcome, reason, top.rule.weight, {"category": category, "rules": rules})


def _b64decode(run: str) -> bytes | None:
    try:
        return base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _readable(data: bytes | None) -> str | None:
    # Decoded bytes count as a payload only if they are mostly printable text.
    if not data or len(data) < 8:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    return text if printable / len(text) > 0.9 and any(ch.isalpha() for ch in text) else None
