"""Is network A's classification better than network B's on the same images? A paired bootstrap.

Each --a run and the --b run in the same position held out the same fold; their raw probabilities are
pooled over the folds given, and the images are resampled together, so the interval is that of the
AUC difference itself (much narrower than comparing two separate intervals).

    python -m training.compare_runs --a runs/inception-multi/fold0 --b runs/inception-cls/fold0
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
from training.held_out import pool, read_same_images


@dataclass(frozen=True)
class Difference:
    label: str
    auc_a: float
    auc_b: float
    low: float
    high: float

    @property
    def difference(self) -> float:
        return self.auc_a - self.auc_b


def paired(a_runs: list[Path], b_runs: list[Path]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pooled labels and the two networks' probabilities, image for image."""
    if len(a_runs) != len(b_runs):
        raise DatasetError("give as many --b runs as --a runs, fold by fold")
    folds = [read_same_images([a, b]) for a, b in zip(a_runs, b_runs)]
    labels, a = pool([(labels, p[0]) for labels, p in folds])
    _, b = pool([(labels, p[1]) for labels, p in folds])
    return labels, a, b


def paired_bootstrap(labels: np.ndarray, a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                     rounds: int = 1000, seed: int = 0) -> list[Difference]:
    """Per label AUC of A and B on the same images, and the 95 % interval of A - B (images resampled together)."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(labels), len(labels)) for _ in range(rounds)]
    out = []
    for i, label in enumerate(LABELS):
        y = labels[:, i]
        deltas = [roc_auc_score(y[d], a[label][d]) - roc_auc_score(y[d], b[label][d])
                  for d in draws if 0 < y[d].sum() < len(d)]
        low, high = np.percentile(deltas, [2.5, 97.5])
        out.append(Difference(label, float(roc_auc_score(y, a[label])), float(roc_auc_score(y, b[label])),
                              float(low), float(high)))
    return out


def compare(a_runs: list[Path], b_runs: list[Path], rounds: int = 1000, seed: int = 0) -> list[Difference]:
    return paired_bootstrap(*paired(a_runs, b_runs), rounds, seed)


def differences_table(differences: list[Difference]) -> str:
    lines = ["| label | AUC A | AUC B | A - B | 95 % paired bootstrap interval |", "|---|---|---|---|---|"]
    lines += [f"| {d.label} | {d.auc_a:.3f} | {d.auc_b:.3f} | {d.difference:+.3f} | {d.low:+.3f} to {d.high:+.3f} |"
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
