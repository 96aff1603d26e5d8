"""The learned injection detector: logistic regression on hashed character and word n-grams, numpy only.

Weights are trained by ``suite guard train`` (``train.py``, scikit-learn) and shipped as
``data/injection_model.npz``: the non-zero coefficients (indices and values), the intercept,
the hash size and the calibrated threshold. Two blocks of features share ``dims`` buckets:
character 3-, 4- and 5-grams of the text (canonical form, lower case, framed by spaces; a
polynomial rolling hash computed with vectorised numpy) and word unigrams and bigrams (CRC-32).
Each block has sub-linear term frequency and unit L2 norm: character n-grams carry spelling
variants and German compounds ("Systemprompt", "System-Prompt"), words carry the order of an
instruction ("ignore ... instructions" against "instructions ... ignored"). A long text is scored
in overlapping windows and the highest window counts, so an instruction hidden in a long
document is not diluted by the text around it.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MODEL_PATH = Path(__file__).parent / "data" / "injection_model.npz"
NGRAMS = (3, 4, 5)
WINDOW_CHARS = 480
# A sentence longer than this is cut into pieces of this size before windows are formed.
PIECE_CHARS = 240
_SENTENCE_END = re.compile(r"(?<=[.!?:;\n])\s+|(?<=-->)|(?=<!--)|(?=\[)")
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hashes(lowered: str, n: int, dims: int) -> npt.NDArray[np.int64]:
    # The bucket of the n-gram starting at each position of the lower-cased text framed by spaces.
    codes = np.frombuffer(f" {lowered} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):
        h = np.full(len(codes) - n + 1, np.uint64(n), dtype=np.uint64)
        for k in range(n):
            h = h * _PRIME + codes[k : len(codes) - n + 1 + k]
        h = (h * _MIX) >> np.uint64(20)
    return (h % np.uint64(dims)).astype(np.int64)


def ngram_buckets(text: str, dims: int) -> npt.NDArray[np.int64]:
    """The hash bucket of every character n-gram of the text, for each n in NGRAMS, in text order."""
    lowered = text.lower()
    return np.concatenate([_hashes(lowered, n, dims) for n in NGRAMS])


_WORD = re.compile(r"\w+")


def word_buckets(text: str, dims: int) -> npt.NDArray[np.int64]:
    """The hash bucket of every word and every pair of adjacent words (lower case)."""
    words = _WORD.findall(text.lower())
    grams = [b"w " + w.encode() for w in words] + [f"b {a} {b}".encode() for a, b in itertools.pairwise(words)]
    return np.fromiter((zlib.crc32(g) % dims for g in grams), dtype=np.int64, count=len(grams))


def _block(buckets: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    unique, counts = np.unique(buckets, return_counts=True)
    values = np.log1p(counts.astype(np.float64))
    norm = float(np.sqrt((values * values).sum())) or 1.0
    return unique, values / norm


def sparse_features(text: str, dims: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(bucket indices, values): per block (character n-grams, words) log(1 + count), L2-normalised.

    The indices may repeat (a word bucket that a character n-gram also hashes to); a dot
    product with the weights, or a sparse matrix built from them, adds the repeats up.
    """
    chars, char_values = _block(ngram_buckets(text, dims))
    words, word_values = _block(word_buckets(text, dims))
    return np.concatenate([chars, words]), np.concatenate([char_values, word_values])


def window_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each window: the text itself when short; else each pair of adjacent sentences.

    Windows of a sentence or two, not fixed character spans: an instruction of one sentence in
    a long document scores almost as it would alone (a 480-character span of report text around
    it diluted it below the threshold), and the pair keeps a lead-in ("Note to the AI:") with
    its instruction. A sentence longer than PIECE_CHARS is cut into pieces first.
    """
    if len(text) <= WINDOW_CHARS:
        return [(0, len(text))]
    pieces: list[tuple[int, int]] = []
    start = 0
    for cut in [*(m.start() for m in _SENTENCE_END.finditer(text)), len(text)]:
        while start < cut and text[start].isspace():
            start += 1
        for a in range(start, cut, PIECE_CHARS):
            b = min(cut, a + PIECE_CHARS)
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                pieces.append((a, b))
        start = cut
    pairs = [(a[0], b[1]) for a, b in itertools.pairwise(pieces)]
    return pairs or pieces


def windows(text: str) -> list[str]:
    """The texts of the windows (see ``window_spans``)."""
    return [text[a:b] for a, b in window_spans(text)]


@dataclass(frozen=True)
class LearnedDetector:
    """Shipped logistic-regression weights; ``probability`` is the attack probability of a text."""

    weights: npt.NDArray[np.float64]
    intercept: float
    threshold: float

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LearnedDetector:
        """Read the weights file (numpy only; no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            dims = int(data["dims"])
            weights = np.zeros(dims, dtype=np.float64)
            weights[data["indices"]] = data["values"]
            return cls(weights, float(data["intercept"]), float(data["threshold"]))

    def probability(self, text: str, cache: dict[str, float] | None = None) -> float:
        """The highest attack probability over the text's windows.

        ``cache`` (window text to logit) is shared between the forms of one text: a decoded form
        that differs from the plain one in a sentence or two is scored only there.
        """
        spans = window_spans(text)
        cache = {} if cache is None else cache
        lowered = text.lower()
        if len(spans) == 1 or len(lowered) != len(text):
            # One window, or lower-casing moved offsets (a few letters lower-case to two): per window.
            logits = [self._window_logit(text[a:b], cache) for a, b in spans]
        else:
            logits = self._span_logits(text, lowered, spans, cache)
        return float(1 / (1 + np.exp(-(max(logits) + self.intercept))))

    def _window_logit(self, window: str, cache: dict[str, float]) -> float:
        if window not in cache:
            buckets, values = sparse_features(window, len(self.weights))
            cache[window] = float(self.weights[buckets] @ values)
        return cache[window]

    def _span_logits(
        self, text: str, lowered: str, spans: list[tuple[int, int]], cache: dict[str, float]
    ) -> list[float]:
        # The n-gram and word hashes of the whole text once; each window takes its slice of them.
        # Window boundaries fall on whitespace, so the slice holds exactly the window's own n-grams
        # (the spaces framing the window are the text's own).
        dims = len(self.weights)
        todo = [(a, b) for a, b in spans if text[a:b] not in cache]
        if todo:
            chars = {n: _hashes(lowered, n, dims) for n in NGRAMS}
            found = list(_WORD.finditer(lowered))
            starts = np.fromiter((m.start() for m in found), dtype=np.int64, count=len(found))
            ends = np.fromiter((m.end() for m in found), dtype=np.int64, count=len(found))
            words = [m.group() for m in found]
            unigrams = np.fromiter((zlib.crc32(b"w " + w.encode()) % dims for w in words), np.int64, len(words))
            bigrams = np.fromiter(
                (zlib.crc32(f"b {a} {b}".encode()) % dims for a, b in itertools.pairwise(words)),
                np.int64,
                max(0, len(words) - 1),
            )
            char_slices = [chars[n][a : max(a, b + 3 - n)] for a, b in todo for n in NGRAMS]
            word_slices = []
            for a, b in todo:
                first, last = int(np.searchsorted(starts, a)), int(np.searchsorted(ends, b, side="right"))
                word_slices += [unigrams[first:last], bigrams[first : max(first, last - 1)]]
            logits = self._batch_logits(char_slices, len(NGRAMS), len(todo)) + self._batch_logits(
                word_slices, 2, len(todo)
            )
            for (a, b), logit in zip(todo, logits.tolist(), strict=True):
                cache[text[a:b]] = logit
        return [cache[text[a:b]] for a, b in spans]

    def _batch_logits(
        self, slices: list[npt.NDArray[np.int64]], per_window: int, count: int
    ) -> npt.NDArray[np.float64]:
        # One feature block of many windows at once: (window, bucket) keys counted in one np.unique,
        # then log(1 + count), each window's L2 norm and its dot product with the weights by bincount.
        dims = len(self.weights)
        lengths = np.array([len(part) for part in slices], dtype=np.int64).reshape(count, per_window).sum(axis=1)
        window = np.repeat(np.arange(count, dtype=np.int64), lengths)
        keys, counts = np.unique(window * dims + np.concatenate(slices), return_counts=True)
        owner, values = keys // dims, np.log1p(counts.astype(np.float64))
        norms = np.sqrt(np.bincount(owner, values * values, minlength=count))
        norms[norms == 0] = 1.0
        result: npt.NDArray[np.float64] = (
            np.bincount(owner, self.weights[keys % dims] * values, minlength=count) / norms
        )
        return result

    def score(self, text: str, cache: dict[str, float] | None = None) -> float:
        """The probability rescaled so that the calibrated threshold maps to 0.5 (for the noisy-or)."""
        p, t = self.probability(text, cache), self.threshold
        return p * 0.5 / t if p < t else 0.5 + (p - t) * 0.5 / (1 - t)
