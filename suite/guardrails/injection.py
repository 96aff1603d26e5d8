"""Prompt-injection and jailbreak detection: rules from data files, plus an optional classifier.

Rules are regular expressions in YAML (``data/injection.yaml`` and any files the settings
add), German and English, in four families: instruction override, role play to drop the
rules, system-prompt extraction, encoded payloads. Text is normalised first (Unicode
NFKC, zero-width characters removed, whitespace collapsed); base64, hex and rot13 runs
are decoded and matched again, so an encoded attack scores like a plain one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from suite.guardrails.normalise import Variant, canonical, variants
from suite.guardrails.prefilter import fold, required_literals
from suite.guardrails.verdicts import ALLOW, Finding, Outcome

BUILTIN_RULES = Path(__file__).parent / "data" / "injection.yaml"


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
    """A rule that matched, and where (in the normalised or decoded text).

    ``mention``: every match lies inside quotation marks in a text that talks about the phrase
    ("the 'ignore previous instructions' attack", "Mails mit 'ignoriere deine Anweisungen'"):
    the phrase is the topic, not a command, and the hit weighs ``MENTION_FACTOR`` of the rule.
    """

    rule: Rule
    decoded_from: str | None = None
    mention: bool = False

    @property
    def weight(self) -> float:
        """The rule's weight, reduced for a quoted mention."""
        return self.rule.weight * MENTION_FACTOR if self.mention else self.rule.weight


MENTION_FACTOR = 0.5
# Quoted spans (straight, typographic and German quotation marks), up to a sentence long.
_QUOTED = re.compile(
    r"""(?<!\w)'[^'\n]{3,160}'(?!\w)|"[^"\n]{3,160}"|„[^“”"\n]{3,160}[“”"]"""
    r"""|“[^”\n]{3,160}”|‘[^’\n]{3,160}’"""
)
# Words that show a quoted phrase is talked about: attacks, examples, reports, training, mails.
_MENTION_CUE = re.compile(
    r"\b(attacks?|angriffs?|angriffe[n]?|phrases?|phrasen?|injections?|such\s+as|e\.\s?g\.|z\.\s?b\.|"
    r"classic|klassisch\w*|e-?mails?|mails?|messages?|nachrichten?|reports?|berichts?|bericht|mentions?|erwähnt|"
    r"quiz|examples?|beispiel\w*|filters?|filter\w*|training|schulung\w*|awareness|slides?|folien?|patterns?|muster)\b",
    re.IGNORECASE,
)


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _QUOTED.finditer(text)]


def _only_mentioned(pattern: re.Pattern[str], text: str, spans: list[tuple[int, int]]) -> bool:
    """True when every match of the pattern lies inside one of the quoted spans."""
    return all(any(a <= m.start() and m.end() <= b for a, b in spans) for m in pattern.finditer(text))


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
    """The text as the rules see it (see ``normalise.canonical``)."""
    return canonical(text)


def decoded_payloads(text: str) -> list[tuple[str, str]]:
    """(carrier, decoded text) for every hidden form of the text (see ``normalise.variants``)."""
    return [(v.carrier or "", v.text) for v in variants(text)[1:]]


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
        return self.hits_in(variants(text))

    def hits_in(self, forms: list[Variant]) -> list[RuleHit]:
        """Every rule that matches one of the forms (the plain one first)."""
        hits: list[RuleHit] = []
        seen: set[str] = set()
        for form in forms:
            matching = self._matching(form.text, skip=seen)
            spans = _quoted_spans(form.text) if matching and _MENTION_CUE.search(form.text) else []
            for rule in matching:
                mention = bool(spans) and _only_mentioned(rule.pattern, form.text, spans)
                hits.append(RuleHit(rule, decoded_from=form.carrier, mention=mention))
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
        return self.check_forms(variants(text))

    def check_forms(self, forms: list[Variant]) -> Finding:
        """Block when the strongest hit in any form weighs at least the threshold."""
        hits = self.hits_in(forms)
        if not hits:
            return ALLOW
        top = max(hits, key=lambda h: h.weight)
        category = "encoded_payload" if top.decoded_from else top.rule.category
        rules = [
            h.rule.id + (f" ({h.decoded_from})" if h.decoded_from else "") + (" (mention)" if h.mention else "")
            for h in hits
        ]
        outcome: Outcome = "block" if top.weight >= self._threshold else "allow"
        reason = f"{category.replace('_', ' ')} ({top.rule.id})"
        return Finding(outcome, reason, top.weight, {"category": category, "rules": rules})
