"""presidio parts adapted to this appliance: offline, working on blank spaCy pipelines, and fast.

- ``OfflineEmailRecognizer``: domains checked against tldextract's bundled suffix list; the
  stock recognizer's extractor downloads the list on first use (an egress attempt). It and
  ``IpRecognizerScanningRuns`` scan only the parts of a text that could match: see
  ``ScanOnlyCandidateRuns``.
- ``TokenNlpEngine``: a blank pipeline has no lemmatizer, so every lemma is "" and presidio's
  context words (``data/pii.yaml``) could never raise a score. A token's lower-case text
  stands in for a missing lemma. The artifacts also carry each token's end offset and the
  keywords as a set, which ``IndexedContextEnhancer`` needs.
- ``IndexedContextEnhancer``: presidio's lemma context enhancer, finding a finding's token by
  binary search instead of walking the spaCy doc from its start for every finding (a fresh
  ``Token`` object per step), testing keywords against a set instead of a list, and copying
  findings shallowly. Same result; at 1k tokens with a few dozen findings it saves 5 to 10 ms.
- ``PhoneRecognizerSkippingAccounts``: see its docstring.
"""

from __future__ import annotations

import bisect
import copy
import re
from typing import Any, cast

import phonenumbers
import tldextract
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
)
from spacy.tokens import Doc

# The suffix list snapshot bundled with tldextract; an empty URL list means it never fetches.
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class ScanOnlyCandidateRuns(PatternRecognizer):
    """A pattern recognizer whose patterns never match whitespace, scanning only runs that could match.

    presidio's e-mail and IP patterns start a match attempt at every word boundary, about 1 ms
    each at 1k tokens. A match lies inside one whitespace-delimited run holding one of a few
    characters ("@" for an e-mail address): presidio's own matching runs on those runs alone,
    joined by single spaces, and the findings are moved back to their offsets in the text.
    A run's neighbours are whitespace (or an end of the text) either way, so word boundaries
    and look-arounds see the same thing and the same matches are found.
    """

    # A whitespace-delimited run holding one of the needles (set by a subclass).
    candidate_run: re.Pattern[str]

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        runs = list(self.candidate_run.finditer(text))
        if not runs:
            return []
        joined_starts, at = [], 0
        for run in runs:
            joined_starts.append(at)
            at += len(run.group()) + 1
        joined = " ".join(run.group() for run in runs)
        results: list[RecognizerResult] = super().analyze(joined, entities, nlp_artifacts, regex_flags)
        for result in results:
            index = bisect.bisect_right(joined_starts, result.start) - 1
            shift = runs[index].start() - joined_starts[index]
            result.start += shift
            result.end += shift
        return results


def _runs_holding(needles: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\S)\S*[" + re.escape(needles) + r"]\S*")


class OfflineEmailRecognizer(ScanOnlyCandidateRuns, EmailRecognizer):
    """presidio's e-mail recognizer, checking domains against the bundled suffix list only."""

    candidate_run = _runs_holding("@")

    def validate_result(self, pattern_text: str) -> bool:
        return bool(_OFFLINE_TLD(pattern_text).fqdn)


class IpRecognizerScanningRuns(ScanOnlyCandidateRuns, IpRecognizer):
    """presidio's IP address recognizer (v4 and v6 addresses hold a dot or a colon)."""

    candidate_run = _runs_holding(".:")


_MAX_CACHED_WORDS = 100_000


class TokenArtifacts(NlpArtifacts):
    """presidio's NLP artifacts plus what a binary search and set lookups need."""

    def __init__(self, *, token_ends: list[int], **fields: Any) -> None:
        super().__init__(**fields)
        self.token_ends = token_ends
        self.keyword_set = frozenset(self.keywords)


class TokenNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine; a token's lower-case text stands in for a lemma the pipeline lacks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # presidio asks the vocabulary about every lemma of every text; words repeat.
        self._word_flags: dict[tuple[str, str], tuple[bool, bool]] = {}

    def is_stopword(self, word: str, language: str) -> bool:
        return self._flags(word, language)[0]

    def is_punct(self, word: str, language: str) -> bool:
        return self._flags(word, language)[1]

    def _flags(self, word: str, language: str) -> tuple[bool, bool]:
        key = (word, language)
        flags = self._word_flags.get(key)
        if flags is None:
            assert self.nlp is not None, "load() first"
            lexeme = self.nlp[language].vocab[word]
            flags = (bool(lexeme.is_stop), bool(lexeme.is_punct))
            if len(self._word_flags) >= _MAX_CACHED_WORDS:
                self._word_flags.clear()
            self._word_flags[key] = flags
        return flags

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        lemmas, starts, ends = [], [], []
        for token in doc:  # one pass: each step builds a Token object
            lemmas.append(token.lemma_ or token.lower_)
            starts.append(token.idx)
            ends.append(token.idx + len(token))
        entities, scores = self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))
        return TokenArtifacts(
            token_ends=ends,
            entities=entities,
            tokens=doc,
            tokens_indices=starts,
            lemmas=lemmas,
            nlp_engine=self,
            language=language,
            scores=scores,
        )


class IndexedContextEnhancer(LemmaContextAwareEnhancer):
    """presidio's context enhancer with a binary search for the finding's token (same result)."""

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        # presidio deep-copies the findings before raising scores (0.8 ms for a few dozen);
        # copying the two parts it changes, score and explanation, is enough.
        findings = _FindingsCopiedShallow(raw_results)
        enhanced: list[RecognizerResult] = super().enhance_using_context(
            text, findings, nlp_artifacts, recognizers, context
        )
        return enhanced

    def _extract_surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        if not isinstance(nlp_artifacts, TokenArtifacts):
            return list(super()._extract_surrounding_words(nlp_artifacts, word, start))
        if not nlp_artifacts.tokens:
            return [""]
        # The stock search: the first token that starts at, or ends after, the finding's start.
        index = bisect.bisect_right(nlp_artifacts.token_ends, start)
        if index == len(nlp_artifacts.token_ends):
            raise ValueError(f"Did not find word {word!r} in the list of tokens although it is expected to be found")
        keywords: Any = nlp_artifacts.keyword_set  # presidio only tests membership
        lemmas = nlp_artifacts.lemmas
        backward = self._add_n_words_backward(index, self.context_prefix_count, lemmas, keywords)
        forward = self._add_n_words_forward(index, self.context_suffix_count, lemmas, keywords)
        return list(set(backward + forward))


class _FindingsCopiedShallow(list[RecognizerResult]):
    def __deepcopy__(self, memo: dict[int, Any]) -> list[RecognizerResult]:
        copies = []
        for finding in self:
            duplicate = copy.copy(finding)
            duplicate.analysis_explanation = copy.copy(finding.analysis_explanation)
            copies.append(duplicate)
        return copies


class PhoneRecognizerSkippingAccounts(PhoneRecognizer):
    """presidio's phone recognizer, minus two kinds of wasted work (same findings otherwise).

    - phonenumbers takes every digit group of an IBAN (``DE89 3704 0044 0532 0130 00``) as a
      candidate and tries it and its inner groups, per region: two thirds of the recognizer's
      time on text with accounts in it, and a source of phone findings that split an account
      number. Digits that form a valid IBAN or card number (checksums verified by presidio's
      own recognizers) are hidden from the phone search, offsets unchanged.
    - A number written with "+" and its country code parses the same in every region, so once
      one region's pass found it, the later passes do not look at it again.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        language = kwargs.get("supported_language", "en")
        self._accounts = [
            IbanRecognizer(supported_language=language),
            CreditCardRecognizer(supported_language=language),
        ]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        hidden = text
        for recognizer in self._accounts:
            for found in recognizer.analyze(text, recognizer.supported_entities, nlp_artifacts) or []:
                if found.score > 0:  # a failed checksum scores 0
                    hidden = _hide(hidden, found.start, found.end)
        results: list[RecognizerResult] = []
        leniency = cast(int, self.leniency)
        for region in self.supported_regions:
            international = []
            for match in phonenumbers.PhoneNumberMatcher(hidden, region, leniency=leniency):
                results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))  # type: ignore[no-untyped-call]
                if match.raw_string[:1] in _PLUS_SIGNS:
                    international.append(match)
            for match in international:
                hidden = _hide(hidden, match.start, match.end)
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return deduplicated


_PLUS_SIGNS = ("+", "\uff0b")  # phonenumbers accepts the full-width plus too


def _hide(text: str, start: int, end: int) -> str:
    # "_" is no digit, letter or phone punctuation: the candidates around it stay as they were.
    return text[:start] + "_" * (end - start) + text[end:]
