"""Paired bootstrap of the AUC difference between two networks' held-out predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesion.contract import LABELS
from training.compare_runs import compare, main
from training.held_out import HELD_OUT_FILE


def write_run(root: Path, labels: np.ndarray, noise: float, seed: int, jaccard: np.ndarray | None = None,
              classifies: bool = True) -> Path:
    """Held-out predictions as training.train writes them: a classification-only run has an empty Jaccard."""
    scores = labels + np.random.default_rng(seed).normal(0, noise, labels.shape)
    probabilities = {label: 1 / (1 + np.exp(-scores[:, i])) for i, label in enumerate(LABELS)} if classifies else {}
    root.mkdir(parents=True)
    np.savez(root / HELD_OUT_FILE, image_ids=np.array([f"ISIC_{i:07d}" for i in range(len(labels))]),
             labels=labels, **probabilities, jaccard=np.zeros(0) if jaccard is None else jaccard)
    return root


def test_a_sharper_network_wins_with_an_interval_that_excludes_zero(tmp_path):
    labels = (np.random.default_rng(0).random((500, len(LABELS))) < 0.3).astype(np.float32)
    sharp = write_run(tmp_path / "sharp", labels, noise=0.5, seed=1)
    blunt = write_run(tmp_path / "blunt", labels, noise=1.5, seed=2)
    for d in compare([sharp], [blunt], rounds=200):
        assert d.a > d.b
        assert 0 < d.low <= d.difference <= d.high


def test_unmatched_runs_are_a_clear_error(tmp_path, capsys):
    labels = np.zeros((20, len(LABELS)), np.float32)
    labels[:5] = 1
    a = write_run(tmp_path / "a", labels, 1.0, 1)
    assert main(["--a", str(a), "--b", str(a), str(a)]) == 2
    assert "as many --b runs as --a runs" in capsys.readouterr().err
    assert main(["--a", str(a), "--b", str(tmp_path / "missing")]) == 2
    assert "no held-out predictions" in capsys.readouterr().err


def test_masks_are_compared_by_mean_jaccard_where_both_networks_segment(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = (rng.random((400, len(LABELS))) < 0.3).astype(np.float32)
    tight = np.clip(rng.normal(0.85, 0.05, len(labels)), 0, 1)
    segmenter = write_run(tmp_path / "seg", labels, 1.0, 1, jaccard=tight, classifies=False)
    multi = write_run(tmp_path / "multi", labels, 1.0, 2, jaccard=tight - 0.02)
    classifier = write_run(tmp_path / "cls", labels, 1.0, 3)
    (only,) = compare([segmenter], [multi], rounds=200)
    assert only.measure == "mean Jaccard"
    assert only.difference == pytest.approx(0.02)
    assert 0 < only.low <= only.difference <= only.high
    assert [d.measure for d in compare([multi], [classifier], rounds=50)] == [f"AUC {label}" for label in LABELS]
    assert main(["--a", str(segmenter), "--b", str(classifier)]) == 2
    assert "predict nothing in common" in capsys.readouterr().err
