"""Which streamed text could still become part of a PII value: a prefix test on the recognisers' patterns.

A stream guard that asked presidio about every released word spent most of a request's CPU
there (1 to 2 ms a call, 64 calls for a 64-token answer) for answers that hold no PII at all.
With pattern recognizers only (the default: blank spaCy pipelines, no NER), every value presidio
can find is a match of one of a known set of regular expressions: the pattern recognizers' own
(each with its flags) and, for phone numbers, the candidate pattern of ``phonenumbers``' matcher,
inside which all of its findings lie. So:

- text from which no pattern could still match once more text follows (``regex``'s partial
  matching: "is the text from here a prefix of some match?") can be released now; the text from
  the first position that could is held;
- the released part needs presidio only if a pattern matches in it completely; ordinary prose
  (no digits, no "@", nothing like a plate) goes out without a presidio call.

Prefixes grow monotonically: text that is no prefix of any match stays none whatever follows, so
released text can never turn out to be the start of a value. Recognisers with no patterns to test
(spaCy NER for names) make this test impossible; ``ValueStarts.of`` then answers None and the guard
falls back to holding words and asking presidio about each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers.phonenumbermatcher
import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

# phone numbers: PhoneNumberMatcher finds its numbers inside matches of its candidate pattern
# (phonenumbermatcher._PATTERN: up to two lead characters, digit groups joined by up to four
# punctuation characters, an optional extension). That pattern's digit groups can be split in
# exponentially many ways, which partial matching explores; the superset below (a run of digits
# and punctuation, taken possessively) is linear and holds a little more.
_PHONE_PUNCT = phonenumbers.phonenumbermatcher._PUNCTUATION.removesuffix("{0,4}")
_PHONE_LEAD = phonenumbers.phonenumbermatcher._LEAD_CLASS
_PHONE_CANDIDATE = (
    rf"(?:{_PHONE_LEAD}{_PHONE_PUNCT}{{0,4}}){{0,2}}\d(?:\d|{_PHONE_PUNCT})*+"
    r"(?:(?:;ext=|[ \u00a0\t,]*(?:e?xt(?:ensi(?:ó?|ó))?n?|ｅ?ｘｔｎ?|доб|anexo|int|ｉｎｔ|[xｘ#＃~～])"
    r"[:\.．]?[ \u00a0\t,-]*)\d*#?)?"
)


@dataclass(frozen=True)
class Scan:
    """What a scan of a text's tail found: where to hold from, and whether the rest needs presidio."""

    hold: int  # the earliest position whose text could still grow into a match (len(text): none)
    candidate: bool  # a complete match starts before hold: presidio decides what it is


class ValueStarts:
    """The prefix test over a set of patterns; immutable and thread-safe."""

    def __init__(self, patterns: Iterable[regex.Pattern[str]]) -> None:
        self._patterns = list(dict.fromkeys(patterns))  # en and de share their patterns

    @classmethod
    def of(cls, recognizers: Iterable[EntityRecognizer]) -> ValueStarts | None:
        """The test for these recognizers, or None if one of them finds values no pattern describes."""
        patterns: list[regex.Pattern[str]] = []
        for recognizer in recognizers:
            if isinstance(recognizer, PatternRecognizer):
                flags = recognizer.global_regex_flags or 0
                own: list[Pattern] = getattr(recognizer, "patterns", [])  # a deny list is one of them
                patterns += [regex.compile(p.regex, flags) for p in own]
            elif isinstance(recognizer, PhoneRecognizer):
                patterns.append(regex.compile(_PHONE_CANDIDATE))
            else:
                return None  # NER (SpacyRecognizer) or a recognizer of unknown kind
        return cls(patterns)

    def scan(self, text: str, start: int = 0, *, final: bool = False) -> Scan:
        """Scan text[start:] (text before start is context for look-behinds and word boundaries).

        ``final``: no more text follows, so nothing is held and any complete match is a candidate.
        """
        end = len(text)
        if final:
            return Scan(end, any(pattern.search(text, start) is not None for pattern in self._patterns))
        hold, first_complete = end, end
        for pattern in self._patterns:
            at = start
            while at < hold:
                match = pattern.search(text, at, partial=True)
                if match is None:
                    break
                first = match.start()
                if not match.partial:
                    # regex prefers a complete match to a partial one further left: look in between.
                    earlier = next(
                        (p for p in range(at, min(first, hold)) if pattern.fullmatch(text, p, partial=True)), None
                    )
                    if earlier is not None:
                        hold = earlier
                        break
                if first >= hold or first == end:
                    break
                # A match that reaches the end may grow; one that stops short may still have a
                # longer alternative that does ("a@b.de." + "x"): fullmatch(partial) asks exactly that.
                if match.partial or match.end() == end or pattern.fullmatch(text, first, partial=True):
                    hold = first
                    break
                first_complete = min(first_complete, first)
                at = first + 1
        return Scan(hold, first_complete < hold)
