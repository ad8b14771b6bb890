"""Ensemble scoring from held-out predictions: two noisy networks averaged beat each alone, interval and all."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.ensemble_check import fold_aucs, gains, main, read_groups
from training.held_out import HELD_OUT_FILE


def write_network(root: Path, labels: np.ndarray, seed: int, ids: np.ndarray) -> Path:
    """One network's fold run: its scores are the labels plus its own independent noise."""
    noisy = labels + np.random.default_rng(seed).normal(0, 0.8, labels.shape)
    raw = 1 / (1 + np.exp(-noisy))
    root.mkdir(parents=True)
    np.savez(root / HELD_OUT_FILE, image_ids=ids, labels=labels,
             **{label: raw[:, i] for i, label in enumerate(LABELS)}, jaccard=np.zeros(len(ids)))
    return root


def test_the_mean_of_two_independent_networks_scores_above_each(tmp_path):
    labels = (np.random.default_rng(0).random((600, len(LABELS))) < 0.3).astype(np.float32)
    ids = np.array([f"ISIC_{i:07d}" for i in range(len(labels))])
    a, b = (write_network(tmp_path / name, labels, seed, ids) for name, seed in (("a", 1), ("b", 2)))
    folds = read_groups([[a], [b]])
    alone_a, alone_b, together = fold_aucs(folds[0])
    for label in LABELS:
        assert together[label] > max(alone_a[label], alone_b[label])
    for differences in gains(folds, rounds=200):
        assert all(0 < d.low <= d.difference <= d.high for d in differences)
    assert main(["--runs", str(a), "--runs", str(b)]) == 0


def test_runs_that_held_out_different_images_are_refused(tmp_path, capsys):
    labels = np.zeros((10, len(LABELS)), np.float32)
    labels[:3] = 1
    ids = np.array([f"ISIC_{i:07d}" for i in range(10)])
    a = write_network(tmp_path / "a", labels, 1, ids)
    b = write_network(tmp_path / "b", labels, 2, ids[::-1].copy())
    assert main(["--runs", str(a), "--runs", str(b)]) == 2
    assert "did not hold out the same images" in capsys.readouterr().err


def test_base_scores_what_a_third_network_adds_to_a_pair(tmp_path, capsys):
    labels = (np.random.default_rng(0).random((600, len(LABELS))) < 0.3).astype(np.float32)
    ids = np.array([f"ISIC_{i:07d}" for i in range(len(labels))])
    runs = [write_network(tmp_path / name, labels, seed, ids) for name, seed in (("a", 1), ("b", 2), ("c", 3))]
    folds = read_groups([[r] for r in runs], base=2)
    *alone, pair, trio = fold_aucs(folds[0])
    np.testing.assert_allclose(folds[0][1][3][LABELS[0]], (folds[0][1][0][LABELS[0]] + folds[0][1][1][LABELS[0]]) / 2)
    assert len(alone) == 3 and all(trio[label] > pair[label] for label in LABELS)
    argv = ["--bootstrap", "50", "--base", "2", *(a for r in runs for a in ("--runs", str(r)))]
    assert main(argv) == 0
    assert "A = mean of all, B = mean of networks 1-2, folds pooled" in capsys.readouterr().out
    assert main([*argv[:3], "3", *argv[4:]]) == 2
    assert "--base 3: give a number from 2 to 2" in capsys.readouterr().err
