"""A cheap, exact prefilter for the injection rules: skip a rule whose required words are absent.

Python's ``re`` tries a pattern at every position of the text, so 40 rules over 1k tokens
cost milliseconds even when nothing matches (and one big alternation is slower still, as
it loses each pattern's own optimisations). But most patterns cannot match unless some
literal appears: ``\\b(ignore|disregard)\\b ... (instructions|rules)`` needs "instructions"
or "rules". ``required_literals`` derives such a set from the parsed pattern, and a rule
runs only when one of its strings occurs in the text, folded the way ``re.IGNORECASE``
compares characters. The derivation only ever returns strings every match must contain
(or None: always run the rule), so the prefilter never changes what the rules find.
"""

from __future__ import annotations

import re
from re import _casefix, _constants, _parser  # type: ignore[attr-defined]
from typing import Any

# Strings shorter than this occur in almost any text: a rule anchored only by them always runs.
MIN_ANCHOR = 3

_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT, getattr(_constants, "POSSESSIVE_REPEAT", None))


def _case_classes() -> dict[int, str]:
    # re.IGNORECASE matches a character to a literal when their simple lowercase forms are
    # equal or in one of re's extra case classes (dotless i with i, long s with s, the two
    # sigmas, ...): map each class to its smallest member.
    extra: dict[int, tuple[int, ...]] = _casefix._EXTRA_CASES
    canonical = {code: chr(min(code, *others)) for code, others in extra.items()}
    return {code: char for code, char in canonical.items() if chr(code) != char}


_CANONICAL = _case_classes()
_UNCANONICAL = re.compile("[" + "".join(map(chr, _CANONICAL)) + "]")


def fold(text: str) -> str:
    """The text as the prefilter compares it: simple lowercase, re's case classes merged."""
    # str.lower() maps U+0130 (capital I with dot) to two characters; re's simple lowercase gives "i".
    lowered = text.replace("\u0130", "i").lower()
    # translate() is slow on long texts: only when one of the rare class members occurs.
    return lowered.translate(_CANONICAL) if _UNCANONICAL.search(lowered) else lowered


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Folded strings of which every match of the pattern contains at least one, or None if none are known."""
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # an unexpected construct: no prefilter, the rule always runs
        return None
    anchors = _sequence(list(parsed))
    if anchors is None or min(map(len, anchors)) < MIN_ANCHOR:
        return None
    return frozenset(anchors)


def _sequence(items: list[tuple[Any, Any]]) -> set[str] | None:
    # Every element of a sequence must match, so any one element's set is required: keep the best.
    best: set[str] | None = None
    run: list[str] = []

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or _quality(candidate) > _quality(best)):
            best = candidate

    for op, arg in items:
        if op is _constants.LITERAL:
            run.append(chr(arg))
            continue
        if run:  # anything else ends a run of consecutive literal characters
            consider({fold("".join(run))})
            run = []
        if op is _constants.SUBPATTERN:
            consider(_sequence(list(arg[-1])))
        elif op is _constants.BRANCH:
            consider(_alternatives(arg[1]))
        elif op in _REPEATS and arg[0] >= 1:
            consider(_sequence(list(arg[2])))
        # Character classes, any-character, assertions, back references: nothing required.
    if run:
        consider({fold("".join(run))})
    return best


def _alternatives(branches: list[Any]) -> set[str] | None:
    # One of the alternatives matches: its set is required, so the union of all of them is.
    union: set[str] = set()
    for branch in branches:
        anchors = _sequence(list(branch))
        if anchors is None:
            return None
        union |= anchors
    return union


def _quality(anchors: set[str]) -> tuple[int, int]:
    # Longer shortest strings are rarer in ordinary text; fewer strings are cheaper to look for.
    return min(map(len, anchors)), -len(anchors)
