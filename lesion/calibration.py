"""Calibrated probabilities and operating thresholds, stored with the model.

Platt scaling on the network's logit: p = sigmoid(a * logit(p_raw) + b), fitted on out-of-fold
cross-validation predictions; a decision is `p >= threshold`. The identity calibration (a=1, b=0,
threshold 0.5) is what an uncalibrated model ships with.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lesion.contract import LABELS

_CLIP = 1e-7


@dataclass(frozen=True)
class LabelCalibration:
    slope: float = 1.0
    intercept: float = 0.0
    threshold: float = 0.5
    description: str = "uncalibrated; threshold 0.5"

    def probability(self, raw: np.ndarray) -> np.ndarray:
        raw = np.clip(np.asarray(raw, dtype=np.float64), _CLIP, 1 - _CLIP)
        logit = np.log(raw / (1 - raw))
        return (1 / (1 + np.exp(-(self.slope * logit + self.intercept)))).astype(np.float32)

    def decision(self, probability: np.ndarray) -> np.ndarray:
        return np.asarray(probability) >= self.threshold


@dataclass(frozen=True)
class Calibration:
    labels: dict[str, LabelCalibration] = field(
        default_factory=lambda: {name: LabelCalibration() for name in LABELS}
    )

    def to_json(self) -> str:
        return json.dumps({name: asdict(c) for name, c in self.labels.items()}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Calibration":
        data = json.loads(text)
        return cls({name: LabelCalibration(**data[name]) for name in LABELS})

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> "Calibration":
        return cls.from_json(Path(path).read_text())


def fit_label_calibration(
    labels: np.ndarray, raw: np.ndarray, *, target_sensitivity: float | None = None
) -> LabelCalibration:
    """Fit Platt scaling on out-of-fold predictions and choose an operating threshold.

    With target_sensitivity the threshold is the highest that keeps at least that sensitivity on these
    predictions; otherwise the one that maximises Youden's J (sensitivity + specificity - 1).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels).astype(int)
    if np.unique(labels).size < 2:
        return LabelCalibration(description="uncalibrated: the calibration data hold a single class")
    raw = np.clip(np.asarray(raw, dtype=np.float64), _CLIP, 1 - _CLIP)
    logit = np.log(raw / (1 - raw)).reshape(-1, 1)
    model = LogisticRegression(C=1e6).fit(logit, labels)
    cal = LabelCalibration(float(model.coef_[0, 0]), float(model.intercept_[0]))
    fpr, tpr, thresholds = roc_curve(labels, cal.probability(raw))
    if target_sensitivity is not None:
        index = int(np.argmax(tpr >= target_sensitivity))
        how = f"sensitivity >= {target_sensitivity:.2f} on held-out predictions"
    else:
        index = int(np.argmax(tpr - fpr))
        how = "maximum Youden's J on held-out predictions"
    threshold = float(min(thresholds[index], 1.0))
    return LabelCalibration(cal.slope, cal.intercept, threshold, f"Platt scaling; threshold for {how}")
