"""Cross-fitted calibration check on fold runs' held-out predictions (the files training.train writes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lesion.calibration import Calibration, LabelCalibration
from lesion.contract import LABELS
from training.calibration_check import cross_fit, main, stored
from training.checkpoint import Checkpoint, save_checkpoint
from training.held_out import HELD_OUT_FILE
from training.models import LesionNet, ModelConfig


def write_fold_runs(root: Path, folds: int = 5, per_fold: int = 300, seed: int = 0) -> list[Path]:
    """Held-out predictions of an informative but overconfident classifier, one run folder per fold."""
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(folds):
        labels = (rng.random((per_fold, len(LABELS))) < 0.25).astype(np.float32)
        scores = 1.5 * labels + rng.normal(0, 1, labels.shape) - 0.75
        raw = 1 / (1 + np.exp(-4 * scores))
        run = root / f"fold{k}"
        run.mkdir(parents=True)
        np.savez(run / HELD_OUT_FILE, image_ids=np.array([f"ISIC_{k}{i:06d}" for i in range(per_fold)]),
                 labels=labels, **{label: raw[:, i] for i, label in enumerate(LABELS)},
                 jaccard=np.full(per_fold, 0.8))
        runs.append(run)
    return runs


def test_cross_fitted_calibration_improves_scores_and_holds_the_melanoma_operating_point(tmp_path):
    checks = {c.label: c for c in cross_fit(write_fold_runs(tmp_path))}
    for check in checks.values():
        assert check.brier_calibrated < check.brier_raw
        assert check.log_loss_calibrated < check.log_loss_raw
    melanoma = checks[LABELS[0]]
    assert 0.8 <= melanoma.sensitivity <= 1.0, "threshold chosen for sensitivity 0.90 on the other folds"
    assert len(melanoma.sensitivity_per_fold) == 5


def test_missing_predictions_or_a_single_fold_is_a_clear_error(tmp_path, capsys):
    runs = write_fold_runs(tmp_path, folds=2)
    assert main([str(runs[0])]) == 2
    assert "at least two folds" in capsys.readouterr().err
    assert main([str(runs[0]), str(tmp_path / "never_trained")]) == 2
    assert "no held-out predictions" in capsys.readouterr().err
    assert main([str(r) for r in runs] + ["--plot", str(tmp_path / "reliability.png")]) == 0
    assert "| melanoma |" in capsys.readouterr().out
    assert (tmp_path / "reliability.png").stat().st_size > 10_000


def test_each_fold_is_scored_with_a_calibration_fitted_without_it(tmp_path):
    """A fold whose scores drift low keeps its low sensitivity: fitted in-sample it would reach 0.90."""
    runs = write_fold_runs(tmp_path)
    path = runs[0] / HELD_OUT_FILE
    drifted = dict(np.load(path))
    drifted[LABELS[0]] = drifted[LABELS[0]] * 0.01
    np.savez(path, **drifted)
    melanoma = cross_fit(runs)[0]
    assert melanoma.sensitivity_per_fold[0] < 0.5
    assert min(melanoma.sensitivity_per_fold[1:]) > 0.7


def _with_probabilities(runs: list[Path], root: Path, change) -> list[Path]:
    """Copies of fold runs (same images and labels) whose probabilities are change(run index, probabilities)."""
    copies = []
    for k, run in enumerate(runs):
        held_out = dict(np.load(run / HELD_OUT_FILE))
        copy = root / run.name
        copy.mkdir(parents=True)
        np.savez(copy / HELD_OUT_FILE, **{**held_out, **{label: change(k, label, held_out[label]) for label in LABELS}})
        copies.append(copy)
    return copies


def test_an_ensemble_is_checked_on_the_mean_of_its_members_probabilities(tmp_path, capsys):
    a = write_fold_runs(tmp_path / "a")
    rng = np.random.default_rng(1)
    b = _with_probabilities(a, tmp_path / "b", lambda k, label, p: np.clip(p + rng.normal(0, 0.2, p.shape), 0.01, 0.99))
    mean = _with_probabilities(a, tmp_path / "mean", lambda k, label, p: (p + np.load(b[k] / HELD_OUT_FILE)[label]) / 2)
    for ensemble, single in zip(cross_fit(a, [b]), cross_fit(mean)):
        np.testing.assert_allclose(ensemble.calibrated, single.calibrated)
        assert ensemble.sensitivity == single.sensitivity
    assert not np.allclose(cross_fit(a)[0].raw, cross_fit(a, [b])[0].raw)
    assert main([str(r) for r in a] + ["--ensemble-with", *map(str, b[:4])]) == 2
    assert "same number of fold runs" in capsys.readouterr().err


def test_a_stored_calibration_is_scored_as_it_is_on_any_number_of_folds(tmp_path, capsys):
    """A checkpoint's thresholds measured on folds they were not fitted on: no refitting, one fold is enough."""
    runs = write_fold_runs(tmp_path / "runs")
    strict = Calibration({label: LabelCalibration(threshold=0.999, description="strict") for label in LABELS})
    melanoma = stored(strict, runs)[0]
    np.testing.assert_allclose(melanoma.calibrated, melanoma.raw, rtol=1e-5)
    assert melanoma.sensitivity < 0.3
    assert cross_fit(runs)[0].sensitivity >= 0.8, "refitted, the same folds reach the 0.90 target"
    checkpoint = tmp_path / "strict.pt"
    save_checkpoint(checkpoint, Checkpoint(model=LesionNet(ModelConfig(task="cls", pretrained=False)), calibration=strict))
    assert main(["--model", str(checkpoint), str(runs[0])]) == 0
    only_fold0 = stored(strict, runs[:1])[0]
    assert f"| melanoma | {only_fold0.brier_raw:.3f} -> {only_fold0.brier_calibrated:.3f} |" in capsys.readouterr().out
    assert main(["--model", str(tmp_path / "missing.pt"), str(runs[0])]) == 2
    assert "no checkpoint" in capsys.readouterr().err
