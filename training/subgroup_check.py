"""Where does the classifier fail? Held-out AUC per subgroup of images, with bootstrap intervals.

Subgroups: lesion size (the ground-truth mask's share of the image, in terciles over the images given)
and, per label, which other diagnosis it is told apart from (melanoma vs nevus, melanoma vs seborrheic
keratosis, ...). Reads the fold runs' held-out predictions (other folds: each image once) and the
masks of the data folder; nothing is trained or run through a network.

    python -m training.subgroup_check --data ../shared/data/isic2017-256 runs/x/fold0 runs/x/fold1
    python -m training.subgroup_check ... multi/fold0 multi/fold1 --ensemble-with cls/fold0 cls/fold1
(the second: an ensemble, scored on the mean of its networks' probabilities).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from lesion.contract import LABELS
from training.data import DatasetError, Sample, load_mask, read_split
from training.held_out import read_out_of_fold_by_image

DIAGNOSES = ("nevus", *LABELS)


@dataclass(frozen=True)
class Subgroup:
    label: str
    name: str
    n: int
    positives: int
    auc: float
    low: float
    high: float


def lesion_share(sample: Sample) -> float:
    """The ground-truth lesion's share of the image's pixels."""
    if sample.mask_path is None:
        raise DatasetError(f"{sample.image_id}: no ground-truth mask (lesion size needs the masks)")
    return float(load_mask(sample).mean())


def auc_with_interval(labels: np.ndarray, scores: np.ndarray, rounds: int, seed: int = 0) -> tuple[float, float, float]:
    """AUC and its 95 % percentile interval over `rounds` resamplings of these images."""
    rng = np.random.default_rng(seed)
    draws = (rng.integers(0, len(labels), len(labels)) for _ in range(rounds))
    values = [roc_auc_score(labels[d], scores[d]) for d in draws if 0 < labels[d].sum() < len(d)]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(roc_auc_score(labels, scores)), float(low), float(high)


def _groups(diagnosis: np.ndarray, share: np.ndarray, label: int) -> dict[str, np.ndarray]:
    """Boolean masks over the images: everyone, each size tercile, each 'label vs one other diagnosis'."""
    edges = np.quantile(share, [1 / 3, 2 / 3])
    tercile = np.digitize(share, edges)
    bounds = [share.min(), *edges, share.max()]
    groups = {"all images": np.ones_like(share, bool)}
    for t, name in enumerate(("small", "medium", "large")):
        groups[f"{name} lesions ({100 * bounds[t]:.1f}-{100 * bounds[t + 1]:.1f} % of the image)"] = tercile == t
    for other, other_name in enumerate(DIAGNOSES):
        if other != label + 1:
            groups[f"vs {other_name} only"] = np.isin(diagnosis, [label + 1, other])
    return groups


def subgroups(samples: list[Sample], probabilities: dict[str, np.ndarray], rounds: int = 1000) -> list[Subgroup]:
    """Every label's AUC on every subgroup of the held-out samples (groups lacking a class are left out)."""
    samples = [s for s in samples if s.image_id in probabilities]
    if not samples:
        raise DatasetError("none of the runs' held-out images is in this data folder")
    diagnosis = np.array([s.diagnosis for s in samples])
    share = np.array([lesion_share(s) for s in samples])
    scores = np.stack([probabilities[s.image_id] for s in samples])
    out = []
    for i, label in enumerate(LABELS):
        y = (diagnosis == i + 1).astype(int)
        for name, keep in _groups(diagnosis, share, i).items():
            if not 0 < y[keep].sum() < keep.sum():
                continue
            auc, low, high = auc_with_interval(y[keep], scores[keep, i], rounds)
            out.append(Subgroup(label, name, int(keep.sum()), int(y[keep].sum()), auc, low, high))
    return out


def table(rows: list[Subgroup]) -> str:
    lines = ["| label | images | n | positives | AUC | 95 % bootstrap interval |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.label} | {r.name} | {r.n} | {r.positives} | {r.auc:.3f} | {r.low:.3f}-{r.high:.3f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.subgroup_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="fold runs with held-out predictions")
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"),
                   help="the ISIC 2017 folder whose training split the runs held out (masks give lesion size)")
    p.add_argument("--ensemble-with", type=Path, nargs="+", action="append", default=[], metavar="RUN",
                   help="another ensemble member's fold runs (the same held-out images); repeat per member")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="resamplings per subgroup")
    args = p.parse_args(argv)
    try:
        rows = subgroups(read_split(args.data, "training"), read_out_of_fold_by_image(args.runs, args.ensemble_with), args.bootstrap)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
