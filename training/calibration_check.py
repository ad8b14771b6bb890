"""Check the calibration out of sample: fit it on the other folds' predictions, score it on this fold.

The shipped calibration is fitted on all out-of-fold predictions, so the sensitivity and specificity it
reaches on them are in-sample for the threshold. Cross-fitting says what to expect on new images: for
each fold, Platt scaling and the threshold are fitted on the other folds' held-out predictions (exactly
as `training.train --calibration-from` fits them) and applied to this fold's; the results are pooled.

    python -m training.calibration_check runs/gpu/report/efficientnet_lite0-multi/fold{0,1,2,3,4} --plot calibration.png

An ensemble (training.promote with several checkpoints) is checked the same way on the mean of its
members' held-out probabilities: add each further member's fold runs, same folds in the same order,
    python -m training.calibration_check multi/fold{0,1,2,3,4} --ensemble-with cls/fold{0,1,2,3,4}

With --model the calibration stored in a checkpoint is scored as it is instead (no fitting): on folds it
was not fitted on, that is the shipped operating point measured on images it never saw,
    python -m training.calibration_check --model models/lesion_multitask.pt multi/fold4 --ensemble-with cls/fold4
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from lesion.calibration import Calibration
from lesion.contract import LABELS
from training.checkpoint import load_checkpoint
from training.data import DatasetError
from training.ensemble_check import read_groups
from training.held_out import pool, read_folds
from training.train import fit_calibration


@dataclass(frozen=True)
class LabelCheck:
    label: str
    truth: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    brier_raw: float
    brier_calibrated: float
    log_loss_raw: float
    log_loss_calibrated: float
    sensitivity: float
    specificity: float
    sensitivity_per_fold: tuple[float, ...]


def cross_fit(runs: list[Path], ensemble_with: list[list[Path]] | None = None) -> list[LabelCheck]:
    """Per label: raw vs cross-fitted calibrated scores, and the operating point on unseen folds.

    With ensemble_with (other networks' fold runs, same folds in the same order) the scores are the mean
    of the networks' probabilities, as a LesionEnsemble serves them.
    """
    if len(runs) < 2:
        raise DatasetError("cross-fitting needs the held-out predictions of at least two folds")
    folds = _read(runs, ensemble_with)
    return _score(folds, [fit_calibration(*pool([f for j, f in enumerate(folds) if j != k])) for k in range(len(folds))])


def stored(calibration: Calibration, runs: list[Path], ensemble_with: list[list[Path]] | None = None) -> list[LabelCheck]:
    """Per label: a stored calibration (a checkpoint's) scored as it is on these runs' held-out predictions."""
    folds = _read(runs, ensemble_with)
    return _score(folds, [calibration] * len(folds))


def _read(runs: list[Path], ensemble_with: list[list[Path]] | None) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    if ensemble_with:
        return [(labels, probabilities[-1]) for labels, probabilities in read_groups([runs, *ensemble_with])]
    return read_folds(runs)


def _score(folds: list[tuple[np.ndarray, dict[str, np.ndarray]]], calibrations: list[Calibration]) -> list[LabelCheck]:
    """Each fold's raw probabilities through its calibration (the one at the same index), pooled."""
    calibrated = {label: [] for label in LABELS}
    decisions = {label: [] for label in LABELS}
    for (labels, raw), calibration in zip(folds, calibrations):
        for label in LABELS:
            c = calibration.labels[label]
            calibrated[label].append(c.probability(raw[label]))
            decisions[label].append(c.decision(calibrated[label][-1]))
    labels, raw = pool(folds)
    return [_check(label, labels[:, i], raw[label],
                   np.concatenate(calibrated[label]), decisions[label], [f[0][:, i] for f in folds])
            for i, label in enumerate(LABELS)]


def _check(label: str, truth: np.ndarray, raw: np.ndarray, calibrated: np.ndarray,
           decisions: list[np.ndarray], truths: list[np.ndarray]) -> LabelCheck:
    decided = np.concatenate(decisions)
    positive = truth == 1
    return LabelCheck(
        label=label, truth=truth, raw=raw, calibrated=calibrated,
        brier_raw=float(brier_score_loss(truth, raw)),
        brier_calibrated=float(brier_score_loss(truth, calibrated)),
        log_loss_raw=float(log_loss(truth, np.clip(raw, 1e-7, 1 - 1e-7))),
        log_loss_calibrated=float(log_loss(truth, np.clip(calibrated, 1e-7, 1 - 1e-7))),
        sensitivity=float(decided[positive].mean()),
        specificity=float((~decided[~positive]).mean()),
        sensitivity_per_fold=tuple(float(d[t == 1].mean()) for d, t in zip(decisions, truths)),
    )


def table(checks: list[LabelCheck]) -> str:
    lines = ["| label | Brier raw -> calibrated | log loss raw -> calibrated | sensitivity | specificity | sensitivity per fold |",
             "|---|---|---|---|---|---|"]
    for c in checks:
        per_fold = " ".join(f"{s:.2f}" for s in c.sensitivity_per_fold)
        lines.append(f"| {c.label} | {c.brier_raw:.3f} -> {c.brier_calibrated:.3f} | {c.log_loss_raw:.3f} -> "
                     f"{c.log_loss_calibrated:.3f} | {c.sensitivity:.3f} | {c.specificity:.3f} | {per_fold} |")
    return "\n".join(lines)


def plot_reliability(checks: list[LabelCheck], path: Path, bins: int = 10) -> None:
    """Observed frequency against predicted probability, raw and cross-fitted calibrated, per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    fig, axes = plt.subplots(1, len(checks), figsize=(5 * len(checks), 4.5))
    for check, ax in zip(checks, axes):
        for name, probability in (("raw network output", check.raw), ("Platt-calibrated", check.calibrated)):
            observed, predicted = calibration_curve(check.truth, probability, n_bins=bins, strategy="quantile")
            ax.plot(predicted, observed, "o-", label=name)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(title=check.label.replace("_", " "), xlabel="predicted probability", ylabel="observed frequency")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.calibration_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="fold runs with held-out predictions")
    p.add_argument("--ensemble-with", type=Path, nargs="+", action="append", default=[], metavar="RUN",
                   help="another ensemble member's fold runs (same folds, same order); repeat per member")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also draw reliability curves here")
    p.add_argument("--model", type=Path, default=None, metavar="CKPT",
                   help="score this checkpoint's stored calibration instead of cross-fitting one")
    args = p.parse_args(argv)
    try:
        if args.model:
            checks = stored(load_checkpoint(args.model).calibration, args.runs, args.ensemble_with)
        else:
            checks = cross_fit(args.runs, args.ensemble_with)
    except (DatasetError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(checks))
    if args.plot:
        plot_reliability(checks, args.plot)
        print(f"reliability curves -> {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
