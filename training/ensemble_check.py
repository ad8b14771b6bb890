"""Score an ensemble from held-out predictions alone: the mean of several networks' probabilities.

Each --runs group is one network's fold runs (the same folds, in the same order); per fold, the
networks' raw probabilities of the same held-out images are averaged and scored against each
network alone, so whether an ensemble pays is known before anything is trained or shipped.

    python -m training.ensemble_check --runs multi/fold0 multi/fold1 --runs cls/fold0 cls/fold1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from lesion.contract import LABELS
from training.data import DatasetError
from training.held_out import read_same_images


def fold_aucs(runs: list[Path]) -> list[dict[str, float]]:
    """Per label AUC of each run alone, then of their mean probability (one network per run, one fold)."""
    labels, probabilities = read_same_images(runs)
    mean = {label: np.mean([p[label] for p in probabilities], axis=0) for label in LABELS}
    return [{label: float(roc_auc_score(labels[:, i], p[label])) for i, label in enumerate(LABELS)}
            for p in [*probabilities, mean]]


def table(groups: list[list[Path]]) -> str:
    if len({len(g) for g in groups}) != 1:
        raise DatasetError("every --runs group needs the same number of fold runs")
    per_fold = [fold_aucs(list(runs)) for runs in zip(*groups)]
    names = [f"network {i + 1} ({g[0].parent.name})" for i, g in enumerate(groups)] + ["mean of all"]
    lines = ["| | " + " | ".join(f"AUC {label} per fold" for label in LABELS) + " | mean AUC |",
             "|---|" + "---|" * (len(LABELS) + 1)]
    for row, name in enumerate(names):
        per_label = {label: [fold[row][label] for fold in per_fold] for label in LABELS}
        cells = [" ".join(f"{v:.3f}" for v in per_label[label]) for label in LABELS]
        mean = np.mean([np.mean(per_label[label]) for label in LABELS])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ensemble_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", action="append", required=True, metavar="RUN",
                   help="one network's fold runs; give --runs once per network")
    args = p.parse_args(argv)
    try:
        print(table(args.runs))
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
