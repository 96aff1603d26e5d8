"""Training the learned injection detector (``suite guard train``); needs scikit-learn, run time does not.

Data: the dev corpus (``tests/guardrails/corpus``), the training corpus (``tests/guardrails/training``,
generated from per-family grammars, with hard negatives) and ``data/training.yaml`` (templates,
expanded by sampling their slots with a fixed seed). Never the held-out corpus. Texts that a
carrier hides are learned in their plain form: at run time the normaliser decodes the carrier
and the learned layer scores the decoded form.
The threshold is calibrated per language on out-of-fold probabilities (5 folds) of the benign
texts of the dev and training corpora: for each language the lowest threshold whose
false-positive rate there stays within ``max_fp``; the higher of the two is shipped (one
threshold, so no language detection is needed at run time).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from suite.guardrails.evaluation import DEV, load_corpus
from suite.guardrails.evaluation import TRAINING as TRAINING_CORPUS
from suite.guardrails.learned import MODEL_PATH, sparse_features
from suite.guardrails.normalise import canonical

TRAINING = Path(__file__).parent / "data" / "training.yaml"
DIMS = 1 << 18


@dataclass(frozen=True)
class TrainingSet:
    """Texts, labels (1: attack), languages, and which texts calibrate the threshold."""

    texts: list[str]
    labels: list[int]
    langs: list[str]
    calibrates: list[bool]


def expand_templates(path: Path = TRAINING, *, per_template: int = 120, seed: int = 18) -> TrainingSet:
    """Sample each template's slot combinations (``per_template`` each, without repeats)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["templates"]
    texts: list[str] = []
    labels: list[int] = []
    langs: list[str] = []
    for lang, spec in data.items():
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
                    langs.append(lang)
    return TrainingSet(texts, labels, langs, [False] * len(texts))


def training_set() -> TrainingSet:
    """The dev and training corpora plus the expanded templates (the template texts do not calibrate)."""
    corpus = load_corpus(DEV) + load_corpus(TRAINING_CORPUS)
    extra = expand_templates()
    return TrainingSet(
        [s.plain or s.text for s in corpus] + extra.texts,
        [int(s.attack) for s in corpus] + extra.labels,
        [s.lang for s in corpus] + extra.langs,
        [True] * len(corpus) + extra.calibrates,
    )


def _matrix(texts: list[str]):  # type: ignore[no-untyped-def]
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        idx, values = sparse_features(canonical(text), DIMS)
        rows += [i] * len(idx)
        cols += idx.tolist()
        vals += values.tolist()
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), DIMS))


def train(output: Path = MODEL_PATH, *, max_fp: float = 0.01, c: float = 8.0) -> dict[str, float]:
    """Fit, calibrate the threshold, write the weights; returns the figures of the fit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    data = training_set()
    x, y = _matrix(data.texts), np.array(data.labels)
    oof = np.zeros(len(y))
    for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=18).split(x, y):
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x[fit_idx], y[fit_idx])
        oof[test_idx] = model.predict_proba(x[test_idx])[:, 1]
    # Calibrated on the corpora's benign texts only (the template ones are too easy), per language.
    calibrates, langs = np.array(data.calibrates), np.array(data.langs)
    thresholds = {}
    for lang in sorted(set(data.langs)):
        benign = np.sort(oof[calibrates & (langs == lang) & (y == 0)])
        thresholds[lang] = float(benign[int(np.ceil((1 - max_fp) * len(benign))) - 1] + 1e-6)
    threshold = max(0.5, *thresholds.values())
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
    figures: dict[str, float] = {"texts": len(y), "attacks": int(y.sum()), "threshold": threshold}
    for lang in sorted(set(data.langs)):
        mine = calibrates & (langs == lang)
        figures[f"cv_detection_{lang}"] = float((oof[mine & (y == 1)] >= threshold).mean())
        figures[f"cv_fp_{lang}"] = float((oof[mine & (y == 0)] >= threshold).mean())
    return figures
