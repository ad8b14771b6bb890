"""The challenge metrics, on numpy arrays. AUCs come from scikit-learn.

Conventions: a predicted and a true mask that are both empty score Jaccard and Dice 1 (nothing to
find, nothing found); one empty and one not scores 0.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

THRESHOLD_JACCARD_CUTOFF = 0.65


def _as_bool(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask) > 0


def jaccard(pred: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two binary masks (nonzero = lesion)."""
    p, t = _as_bool(pred), _as_bool(target)
    union = np.logical_or(p, t).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(p, t).sum() / union)


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    p, t = _as_bool(pred), _as_bool(target)
    total = p.sum() + t.sum()
    if total == 0:
        return 1.0
    return float(2 * np.logical_and(p, t).sum() / total)


def threshold_jaccard(scores: np.ndarray, cutoff: float = THRESHOLD_JACCARD_CUTOFF) -> np.ndarray:
    """The ISIC 2018 rule: a per-image Jaccard below the cutoff counts as 0."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(scores < cutoff, 0.0, scores)


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when the labels hold a single class (AUC undefined)."""
    labels = np.asarray(labels)
    if np.unique(labels).size < 2:
        return None
    return float(roc_auc_score(labels, scores))


def sensitivity_specificity(
    labels: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[float | None, float | None]:
    """Sensitivity and specificity of `score >= threshold`; None where a class is absent."""
    labels = np.asarray(labels).astype(bool)
    positive = np.asarray(scores) >= threshold
    sens = float(positive[labels].mean()) if labels.any() else None
    spec = float((~positive[~labels]).mean()) if (~labels).any() else None
    return sens, spec
