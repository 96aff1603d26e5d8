"""The learned injection detector: logistic regression on hashed character n-grams, numpy only.

Weights are trained by ``suite guard train`` (``train.py``, scikit-learn) and shipped as
``data/injection_model.npz``: the non-zero coefficients (indices and values), the intercept,
the hash size and the calibrated threshold. Features are computed with vectorised numpy:
the text (canonical form, lower case, framed by spaces) as code points, a polynomial rolling
hash for every 3-, 4- and 5-gram, folded into ``dims`` buckets, sub-linear term frequency, L2
norm. A long text is scored in overlapping windows and the highest window counts, so an
instruction hidden in a long document is not diluted by the text around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MODEL_PATH = Path(__file__).parent / "data" / "injection_model.npz"
NGRAMS = (3, 4, 5)
WINDOW_CHARS = 480
STRIDE_CHARS = 240
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def ngram_buckets(text: str, dims: int) -> npt.NDArray[np.int64]:
    """The hash bucket of every character n-gram of the text, for each n in NGRAMS, in text order."""
    codes = np.frombuffer(f" {text.lower()} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    with np.errstate(over="ignore"):
        for n in NGRAMS:
            if len(codes) < n:
                continue
            h = np.full(len(codes) - n + 1, np.uint64(n), dtype=np.uint64)
            for k in range(n):
                h = h * _PRIME + codes[k : len(codes) - n + 1 + k]
            h = (h * _MIX) >> np.uint64(20)
            parts.append((h % np.uint64(dims)).astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def sparse_features(text: str, dims: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(bucket indices, values): log(1 + count), L2-normalised."""
    buckets, counts = np.unique(ngram_buckets(text, dims), return_counts=True)
    values = np.log1p(counts.astype(np.float64))
    norm = float(np.sqrt((values * values).sum())) or 1.0
    return buckets, values / norm


def windows(text: str) -> list[str]:
    """The text itself when short; otherwise overlapping windows of WINDOW_CHARS."""
    if len(text) <= WINDOW_CHARS:
        return [text]
    return [text[start : start + WINDOW_CHARS] for start in range(0, len(text) - STRIDE_CHARS, STRIDE_CHARS)]


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

    def probability(self, text: str) -> float:
        """The highest attack probability over the text's windows."""
        dims = len(self.weights)
        best = -np.inf
        for window in windows(text):
            buckets, values = sparse_features(window, dims)
            best = max(best, float(self.weights[buckets] @ values))
        return float(1 / (1 + np.exp(-(best + self.intercept))))

    def score(self, text: str) -> float:
        """The probability rescaled so that the calibrated threshold maps to 0.5 (for the noisy-or)."""
        p, t = self.probability(text), self.threshold
        return p * 0.5 / t if p < t else 0.5 + (p - t) * 0.5 / (1 - t)
