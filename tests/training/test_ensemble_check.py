"""Ensemble scoring from held-out predictions: two noisy networks averaged beat each alone, interval and all."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.ensemble_check import add_stacked, fold_aucs, gains, main, read_groups
from training.held_out import HELD_OUT_FILE


def write_network(root: Path, labels: np.ndarray, seed: int, ids: np.ndarray, signal: float = 1.0) -> Path:
    """One network's fold run: its scores are the labels (times signal) plus its own independent noise."""
    noisy = signal * labels + np.random.default_rng(seed).normal(0, 0.8, labels.shape)
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


def test_stack_learns_to_ignore_a_network_that_only_adds_noise(tmp_path, capsys):
    rng = np.random.default_rng(0)
    folds = [((rng.random((300, len(LABELS))) < 0.3).astype(np.float32),
              np.array([f"ISIC_{k}{i:06d}" for i in range(300)])) for k in range(3)]
    good = [write_network(tmp_path / "good" / f"fold{k}", y, 10 + k, ids) for k, (y, ids) in enumerate(folds)]
    noise = [write_network(tmp_path / "noise" / f"fold{k}", y, 20 + k, ids, signal=0) for k, (y, ids) in enumerate(folds)]
    for fold in add_stacked(read_groups([good, noise]), networks=2):
        alone, _, mean, stacked = fold_aucs(fold)
        assert all(stacked[label] > mean[label] and abs(stacked[label] - alone[label]) < 0.01 for label in LABELS)
    assert main(["--bootstrap", "50", "--stack", "--runs", *map(str, good), "--runs", *map(str, noise)]) == 0
    assert "A = stacked, B = mean of all, folds pooled" in capsys.readouterr().out
    assert main(["--stack", "--runs", str(good[0]), "--runs", str(noise[0])]) == 2
    assert "--stack fits on the other folds" in capsys.readouterr().err
