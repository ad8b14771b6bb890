"""Is network A better than network B on the same images? A paired bootstrap.

Each --a run and the --b run in the same position held out the same fold; their predictions are pooled
over the folds given, and the images are resampled together, so the interval is that of the difference
itself (much narrower than comparing two separate intervals). What both networks predict is compared:
the AUC of each label where both classify, the mean per-image Jaccard where both segment.

    python -m training.compare_runs --a runs/inception-multi/fold0 --b runs/inception-cls/fold0
    python -m training.compare_runs --a runs/inception-seg/fold0 --b runs/inception-multi/fold0
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from lesion.contract import LABELS
from training.data import DatasetError
from training.held_out import JACCARD, read_same_images


@dataclass(frozen=True)
class Difference:
    measure: str
    a: float
    b: float
    low: float
    high: float

    @property
    def difference(self) -> float:
        return self.a - self.b


def paired(a_runs: list[Path], b_runs: list[Path]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pooled labels and what both networks predict (label probabilities, per-image Jaccard), image for image."""
    if len(a_runs) != len(b_runs):
        raise DatasetError("give as many --b runs as --a runs, fold by fold")
    folds = [read_same_images([a, b], require_labels=False) for a, b in zip(a_runs, b_runs)]
    shared = [key for key in (*LABELS, JACCARD) if all(key in p for _, pair in folds for p in pair)]
    if not shared:
        raise DatasetError("the two networks predict nothing in common (a classifier against a segmenter?)")
    labels = np.concatenate([y for y, _ in folds])
    a, b = ({key: np.concatenate([pair[side][key] for _, pair in folds]) for key in shared} for side in (0, 1))
    return labels, a, b


def paired_bootstrap(labels: np.ndarray, a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                     rounds: int = 1000, seed: int = 0) -> list[Difference]:
    """A and B on the same images, and the 95 % interval of A - B (images resampled together): the AUC of
    each label both hold, then the mean Jaccard if both hold it."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(labels), len(labels)) for _ in range(rounds)]
    out = []
    for i, label in enumerate(LABELS):
        if label not in a or label not in b:
            continue
        y = labels[:, i]
        deltas = [roc_auc_score(y[d], a[label][d]) - roc_auc_score(y[d], b[label][d])
                  for d in draws if 0 < y[d].sum() < len(d)]
        out.append(_difference(f"AUC {label}", roc_auc_score(y, a[label]), roc_auc_score(y, b[label]), deltas))
    if JACCARD in a and JACCARD in b:
        deltas = [a[JACCARD][d].mean() - b[JACCARD][d].mean() for d in draws]
        out.append(_difference("mean Jaccard", a[JACCARD].mean(), b[JACCARD].mean(), deltas))
    return out


def _difference(measure: str, a: float, b: float, deltas: list[float]) -> Difference:
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Difference(measure, float(a), float(b), float(low), float(high))


def compare(a_runs: list[Path], b_runs: list[Path], rounds: int = 1000, seed: int = 0) -> list[Difference]:
    return paired_bootstrap(*paired(a_runs, b_runs), rounds, seed)


def differences_table(differences: list[Difference]) -> str:
    lines = ["| measure | A | B | A - B | 95 % paired bootstrap interval |", "|---|---|---|---|---|"]
    lines += [f"| {d.measure} | {d.a:.3f} | {d.b:.3f} | {d.difference:+.3f} | {d.low:+.3f} to {d.high:+.3f} |"
              for d in differences]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compare_runs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", type=Path, nargs="+", required=True, metavar="RUN", help="network A's fold runs")
    p.add_argument("--b", type=Path, nargs="+", required=True, metavar="RUN", help="network B's runs, same folds")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="paired resamplings of the images")
    args = p.parse_args(argv)
    try:
        differences = compare(args.a, args.b, args.bootstrap)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(differences_table(differences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
