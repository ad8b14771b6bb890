"""Score an ensemble from held-out predictions alone: the mean of several networks' probabilities.

Each --runs group is one network's fold runs (the same folds, in the same order); per fold, the
networks' raw probabilities of the same held-out images are averaged and scored against each
network alone; then, folds pooled, the mean's AUC minus each network's with a paired bootstrap interval.
Whether an ensemble pays is known before anything is trained or shipped.

    python -m training.ensemble_check --runs multi/fold0 multi/fold1 --runs cls/fold0 cls/fold1

With --base N the mean of the first N networks is scored too, and the mean of all against it: what the
networks after the N-th add to an ensemble of the first N (e.g. a third member to a shipped pair).

With --stack a learned combination is scored last, against the mean and each network: per label, a logistic
regression on every network's log-odds of every label (so melanoma may use the seborrheic keratosis
outputs: no image holds both), fitted on the other folds' images and applied to this fold's (cross-fitted).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lesion.contract import LABELS
from training.compare_runs import Difference, differences_table, paired_bootstrap
from training.data import DatasetError
from training.held_out import pool, read_same_images

Fold = tuple[np.ndarray, list[dict[str, np.ndarray]]]


def _mean(probabilities: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {label: np.mean([p[label] for p in probabilities], axis=0) for label in LABELS}


def read_groups(groups: list[list[Path]], base: int | None = None) -> list[Fold]:
    """Per fold: the labels and each network's raw probabilities, then (with base) the mean of the
    first `base` networks, and their mean last."""
    if len({len(g) for g in groups}) != 1:
        raise DatasetError("every --runs group needs the same number of fold runs")
    if base is not None and not 2 <= base < len(groups):
        raise DatasetError(f"--base {base}: give a number from 2 to {len(groups) - 1} (the --runs groups less one)")
    folds = []
    for runs in zip(*groups):
        labels, probabilities = read_same_images(list(runs))
        first = [_mean(probabilities[:base])] if base else []
        folds.append((labels, [*probabilities, *first, _mean(probabilities)]))
    return folds


def _log_odds(probabilities: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.column_stack([logit(np.clip(p[label], 1e-6, 1 - 1e-6)) for p in probabilities for label in LABELS])


def add_stacked(folds: list[Fold], networks: int) -> list[Fold]:
    """Each fold with one more entry last: the cross-fitted logistic regression on the first
    `networks` entries' log-odds (fitted on the other folds)."""
    if len(folds) < 2:
        raise DatasetError("--stack fits on the other folds: give two or more fold runs per network")
    features = [_log_odds(p[:networks]) for _, p in folds]
    stacked = []
    for k, (labels, probabilities) in enumerate(folds):
        train_x = np.concatenate([x for j, x in enumerate(features) if j != k])
        train_y = np.concatenate([y for j, (y, _) in enumerate(folds) if j != k])
        fits = {label: LogisticRegression(max_iter=1000).fit(train_x, train_y[:, i]) for i, label in enumerate(LABELS)}
        combined = {label: fit.predict_proba(features[k])[:, 1] for label, fit in fits.items()}
        stacked.append((labels, [*probabilities, combined]))
    return stacked


def fold_aucs(fold: Fold) -> list[dict[str, float]]:
    """Per label AUC of each entry of one fold: each network alone, then their mean (and any stacked)."""
    labels, probabilities = fold
    return [{label: float(roc_auc_score(labels[:, i], p[label])) for i, label in enumerate(LABELS)}
            for p in probabilities]


def table(names: list[str], folds: list[Fold]) -> str:
    per_fold = [fold_aucs(fold) for fold in folds]
    lines = ["| | " + " | ".join(f"AUC {label} per fold" for label in LABELS) + " | mean AUC |",
             "|---|" + "---|" * (len(LABELS) + 1)]
    for row, name in enumerate(names):
        per_label = {label: [fold[row][label] for fold in per_fold] for label in LABELS}
        cells = [" ".join(f"{v:.3f}" for v in per_label[label]) for label in LABELS]
        mean = np.mean([np.mean(per_label[label]) for label in LABELS])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean:.3f} |")
    return "\n".join(lines)


def gains(folds: list[Fold], rounds: int = 1000) -> list[list[Difference]]:
    """The last entry's AUC (the mean, or the stacked combination) minus each other's, folds pooled,
    with paired bootstrap intervals."""
    labels = np.concatenate([y for y, _ in folds])
    networks = [pool([(y, p[k]) for y, p in folds])[1] for k in range(len(folds[0][1]))]
    return [paired_bootstrap(labels, networks[-1], network, rounds) for network in networks[:-1]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ensemble_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", action="append", required=True, metavar="RUN",
                   help="one network's fold runs; give --runs once per network")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="paired resamplings of the images")
    p.add_argument("--base", type=int, default=None, metavar="N",
                   help="also score the mean of the first N networks, and the mean of all against it")
    p.add_argument("--stack", action="store_true",
                   help="also score a cross-fitted logistic regression on the networks' log-odds, against the rest")
    args = p.parse_args(argv)
    names = [f"network {i + 1} ({g[0].parent.name})" for i, g in enumerate(args.runs)]
    names += [f"mean of networks 1-{args.base}"] if args.base else []
    names += ["mean of all"] + (["stacked"] if args.stack else [])
    try:
        folds = read_groups(args.runs, args.base)
        folds = add_stacked(folds, len(args.runs)) if args.stack else folds
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(names, folds))
    for name, differences in zip(names, gains(folds, args.bootstrap)):
        print(f"\nA = {names[-1]}, B = {name}, folds pooled:\n{differences_table(differences)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
