"""Paired bootstrap of the AUC difference between two networks' held-out predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.compare_runs import compare, main
from training.held_out import HELD_OUT_FILE


def write_run(root: Path, labels: np.ndarray, noise: float, seed: int) -> Path:
    scores = labels + np.random.default_rng(seed).normal(0, noise, labels.shape)
    root.mkdir(parents=True)
    np.savez(root / HELD_OUT_FILE, image_ids=np.array([f"ISIC_{i:07d}" for i in range(len(labels))]),
             labels=labels, **{label: 1 / (1 + np.exp(-scores[:, i])) for i, label in enumerate(LABELS)},
             jaccard=np.zeros(len(labels)))
    return root


def test_a_sharper_network_wins_with_an_interval_that_excludes_zero(tmp_path):
    labels = (np.random.default_rng(0).random((500, len(LABELS))) < 0.3).astype(np.float32)
    sharp = write_run(tmp_path / "sharp", labels, noise=0.5, seed=1)
    blunt = write_run(tmp_path / "blunt", labels, noise=1.5, seed=2)
    for d in compare([sharp], [blunt], rounds=200):
        assert d.auc_a > d.auc_b
        assert 0 < d.low <= d.difference <= d.high


def test_unmatched_runs_are_a_clear_error(tmp_path, capsys):
    labels = np.zeros((20, len(LABELS)), np.float32)
    labels[:5] = 1
    a = write_run(tmp_path / "a", labels, 1.0, 1)
    assert main(["--a", str(a), "--b", str(a), str(a)]) == 2
    assert "as many --b runs as --a runs" in capsys.readouterr().err
    assert main(["--a", str(a), "--b", str(tmp_path / "missing")]) == 2
    assert "no held-out predictions" in capsys.readouterr().err
