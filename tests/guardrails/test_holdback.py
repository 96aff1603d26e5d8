"""The prefix test that decides which streamed text could still become a PII value."""

from __future__ import annotations

import random

from presidio_analyzer.predefined_recognizers import EmailRecognizer, SpacyRecognizer

from suite.guardrails import Guardrails
from suite.guardrails.holdback import ValueStarts


def _starts(guardrails: Guardrails) -> ValueStarts:
    assert guardrails.pii is not None
    assert guardrails.pii.value_starts is not None
    return guardrails.pii.value_starts


def _brute_hold(starts: ValueStarts, text: str) -> int:
    """The first position from which some pattern could still match once more text follows."""
    for at in range(len(text)):
        if any(p.fullmatch(text, at, partial=True) for p in starts._patterns):
            return at
    return len(text)


def test_the_hold_point_is_the_first_position_a_pattern_could_still_match_from(guardrails: Guardrails) -> None:
    starts = _starts(guardrails)
    rng = random.Random(14)
    alphabet = "ab MKD-@.:+0123456789 \n,"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        assert starts.scan(text).hold == _brute_hold(starts, text), repr(text)


def test_examples_of_what_is_held(guardrails: Guardrails) -> None:
    starts = _starts(guardrails)
    assert starts.scan("Hello world. ").hold == len("Hello world. ")  # nothing could grow
    assert starts.scan("Hello world").hold == len("Hello ")  # "world@example.org"
    assert starts.scan("call +49 30").hold == len("call ")  # a phone number being written
    assert starts.scan("mail a@b.de.").hold == len("mail ")  # "a@b.de.vu": stops short, may grow
    held = starts.scan("it is B MW ")
    assert held.hold == len("it is ")
    assert not held.candidate
    text = "the total is 42 euros. "
    done = starts.scan(text)
    assert done.hold == len(text)
    assert done.candidate
    assert starts.scan(text, final=True).candidate
    assert not starts.scan("no numbers here", final=True).candidate


def test_a_value_starting_left_of_a_complete_match_is_held() -> None:
    import regex

    # regex's partial search returns the complete "9" rather than the partial "ab9" (of "ab9@x") further left.
    starts = ValueStarts([regex.compile(r"ab\d*@x|\d")])
    assert starts.scan("ab9").hold == 0
    assert starts.scan("zz ab9", 1).hold == 3
    assert starts.scan("zz ab9 ", 1).hold == 7


def test_text_before_the_start_is_context_only(guardrails: Guardrails) -> None:
    starts = _starts(guardrails)
    # Inside a word no e-mail address starts ("\b"): the context shows the word began earlier.
    assert starts.scan("word", 2).hold == 4
    assert starts.scan("word", 0).hold == 0


def test_no_prefix_test_with_a_recognizer_that_has_no_patterns() -> None:
    assert ValueStarts.of([EmailRecognizer()]) is not None
    assert ValueStarts.of([EmailRecognizer(), SpacyRecognizer()]) is None


def test_every_phone_number_lies_inside_a_candidate_match() -> None:
    import phonenumbers
    import regex

    from suite.guardrails.holdback import _PHONE_CANDIDATE

    candidate = regex.compile(_PHONE_CANDIDATE)
    rng = random.Random(7)
    texts = ["call +49 30 12345678 ext. 12 now", "Tel. (030) 123-4567, Fax 030/1234568", "+44 20 7946 0958x12"]
    texts += ["".join(rng.choice("0123456789 +-()/.x,") for _ in range(rng.randint(6, 30))) for _ in range(300)]
    for text in texts:
        for region in ("DE", "GB"):
            for number in phonenumbers.PhoneNumberMatcher(text, region, leniency=1):
                spans = [m.span() for m in candidate.finditer(text, overlapped=True)]
                assert any(s <= number.start and number.end <= e for s, e in spans), (text, number)
