"""Training the learned injection detector (``suite guard train``); needs scikit-learn, run time does not.

Data: the dev corpus (``tests/guardrails/corpus``) and ``data/training.yaml`` (our own texts and
templates, expanded by sampling their slots with a fixed seed). Never the held-out corpus.
The threshold is calibrated on out-of-fold probabilities (5 folds) of the dev corpus's benign
texts: the lowest threshold whose false-positive rate there stays within ``max_fp``.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from suite.guardrails.evaluation import DEV, load_corpus
from suite.guardrails.learned import MODEL_PATH, sparse_features
from suite.guardrails.normalise import canonical

TRAINING = Path(__file__).parent / "data" / "training.yaml"
DIMS = 1 << 18


@dataclass(frozen=True)
class TrainingSet:
    """Texts and labels (1: attack)."""

    texts: list[str]
    labels: list[int]


def expand_templates(path: Path = TRAINING, *, per_template: int = 120, seed: int = 18) -> TrainingSet:
    """Sample each template's slot combinations (``per_template`` each, without repeats)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["templates"]
    texts: list[str] = []
    labels: list[int] = []
    for spec in data.values():
        slots: dict[str, list[str]] = spec["slots"]
        for kind, label in (("attack", 1), ("benign", 0)):
            for template in spec[kind]:
                pattern = " ".join(template)
                names = [n for n in slots if "{" + n + "}" in pattern]
                combos = list(itertools.product(*(slots[n] for n in names)))
                for combo in rng.sample(combos, min(per_template, len(combos))):
                    text = pattern.format(**dict(zip(names, combo, strict=True))).strip()
                    texts.append(" ".join(text.split()))
                    labels.append(label)
    return TrainingSet(texts, labels)


def training_set() -> TrainingSet:
    """The dev corpus plus the expanded templates."""
    dev = load_corpus(DEV)
    extra = expand_templates()
    return TrainingSet([s.text for s in dev] + extra.texts, [int(s.attack) for s in dev] + extra.labels)


def _matrix(texts: list[str]):  # type: ignore[no-untyped-def]
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        idx, values = sparse_features(canonical(text), DIMS)
        rows += [i] * len(idx)
        cols += idx.tolist()
        vals += values.tolist()
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), DIMS))


def train(output: Path = MODEL_PATH, *, max_fp: float = 0.01, c: float = 4.0) -> dict[str, float]:
    """Fit, calibrate the threshold, write the weights; returns the figures of the fit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    data = training_set()
    x, y = _matrix(data.texts), np.array(data.labels)
    oof = np.zeros(len(y))
    for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=18).split(x, y):
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x[fit_idx], y[fit_idx])
        oof[test_idx] = model.predict_proba(x[test_idx])[:, 1]
    # Calibrated on the hand-written dev benign texts only: the template ones are too easy.
    n_dev = len(load_corpus(DEV))
    benign = np.sort(oof[:n_dev][y[:n_dev] == 0])
    threshold = float(max(0.5, benign[int(np.ceil((1 - max_fp) * len(benign))) - 1] + 1e-6))
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)
    coef = model.coef_[0]
    nonzero = np.flatnonzero(np.abs(coef) > 1e-6)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        output,
        dims=np.int64(DIMS),
        indices=nonzero.astype(np.int32),
        values=coef[nonzero].astype(np.float32),
        intercept=np.float64(model.intercept_[0]),
        threshold=np.float64(threshold),
    )
    detection = float((oof[y == 1] >= threshold).mean())
    fp = float((oof[y == 0] >= threshold).mean())
    return {"texts": len(y), "attacks": int(y.sum()), "threshold": threshold, "cv_detection": detection, "cv_fp": fp}
