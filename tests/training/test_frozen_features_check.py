"""The frozen-feature check: pooling, fold hygiene, held-out lookup by image, and a run on real images."""
from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from lesion.contract import LABELS
from training.data import load_image, read_split
from training.ensemble_check import main as ensemble_main
from training.frozen_features_check import (
    POOLINGS,
    channel_statistics,
    main,
    make_normaliser,
    masked_mean,
    out_of_fold,
    shades_of_gray,
)
from training.held_out import HELD_OUT_FILE, read_out_of_fold_by_image

from .conftest import write_held_out_run


def test_masked_mean_averages_only_where_the_weight_is():
    features = torch.zeros(1, 2, 8, 8)
    features[:, :, :4] = 3.0
    inside = torch.zeros(1, 1, 8, 8)
    inside[:, :, :4] = 1.0
    assert torch.allclose(masked_mean(features, inside), torch.full((1, 2), 3.0))
    assert torch.allclose(masked_mean(features, 1 - inside), torch.zeros(1, 2))


def test_held_out_scores_do_not_depend_on_held_out_labels():
    rng = np.random.default_rng(0)
    labels = (rng.random((120, 2)) < 0.4).astype(np.float32)
    features = labels @ rng.normal(size=(2, 16)) + rng.normal(0, 0.5, (120, 16))
    fold = np.arange(120) % 3
    scores = out_of_fold(features, labels, fold)
    relabelled = labels.copy()
    relabelled[fold == 0] = 1 - relabelled[fold == 0]
    assert np.allclose(out_of_fold(features, relabelled, fold)[fold == 0], scores[fold == 0])
    assert all(roc_auc_score(labels[:, j], scores[:, j]) > 0.9 for j in range(2))


def test_held_out_predictions_are_looked_up_by_image(tmp_path):
    runs = []
    for k, ids in enumerate((["ISIC_a", "ISIC_b"], ["ISIC_c"])):
        run = tmp_path / f"fold{k}"
        run.mkdir()
        n = len(ids)
        np.savez(run / HELD_OUT_FILE, image_ids=np.array(ids), labels=np.zeros((n, 2), np.float32),
                 **{label: np.arange(n) + 10 * k + i for i, label in enumerate(LABELS)})
        runs.append(run)
    by_image = read_out_of_fold_by_image(runs)
    assert sorted(by_image) == ["ISIC_a", "ISIC_b", "ISIC_c"]
    assert by_image["ISIC_b"].tolist() == [1, 2] and by_image["ISIC_c"].tolist() == [10, 11]


def test_the_check_runs_on_real_images(small_isic_copy, capsys):
    assert main(["--data", str(small_isic_copy), "--folds", "3"]) == 0
    out = capsys.readouterr().out
    for pooling in POOLINGS:
        assert f"frozen ImageNet features, {pooling} |" in out


def test_written_runs_are_fold_runs_that_ensemble_check_takes_beside_a_network(small_isic_copy, tmp_path, capsys):
    samples = read_split(small_isic_copy)
    fold = np.arange(len(samples)) % 3
    network = [write_held_out_run(tmp_path / "net" / f"fold{k}", [s for s, f in zip(samples, fold) if f == k],
                                  np.full((int((fold == k).sum()), 2), 0.5)) for k in range(3)]
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({s.image_id: int(f) for s, f in zip(samples, fold)}))
    argv = ["--data", str(small_isic_copy), "--folds-file", str(folds), "--folds", "3",
            "--write-runs", str(tmp_path / "frozen")]
    assert main(argv) == 0
    frozen = [tmp_path / "frozen" / "whole-image" / f"fold{k}" for k in range(3)]
    assert sorted(p.name for p in (tmp_path / "frozen").iterdir()) == ["lesion", "lesion-and-background", "whole-image"]
    capsys.readouterr()
    assert ensemble_main(["--runs", *map(str, network), "--runs", *map(str, frozen), "--bootstrap", "10"]) == 0
    assert "| mean of all |" in capsys.readouterr().out


def test_rescaled_per_image_input_has_the_datas_average_colour(small_isic_copy):
    samples = read_split(small_isic_copy)
    mean, std = channel_statistics(samples)
    x = make_normaliser("per-image-rescaled", samples)(load_image(samples[0])[0])
    assert np.allclose(x.reshape(3, -1).mean(1), mean.ravel(), atol=1e-4)
    assert np.allclose(x.reshape(3, -1).std(1), std.ravel(), rtol=1e-3)


def test_shades_of_gray_undoes_a_colour_cast(small_isic_copy):
    """Balanced, the image and the image under a tinted illuminant share their chromaticity."""
    rgb = np.rint(load_image(read_split(small_isic_copy)[0])[0] * 0.8).astype(np.uint8)
    cast = np.rint(rgb * np.array([1.2, 0.95, 0.7])).astype(np.uint8)

    def chromaticity(image: np.ndarray) -> np.ndarray:
        mean = image.astype(np.float64).mean((0, 1))
        return mean / mean.sum()

    assert np.abs(chromaticity(cast) - chromaticity(rgb)).max() > 0.05
    assert np.abs(chromaticity(shades_of_gray(cast)) - chromaticity(shades_of_gray(rgb))).max() < 0.005
    norms = (shades_of_gray(cast).astype(np.float64) ** 6).mean((0, 1)) ** (1 / 6)
    assert norms.max() - norms.min() < 1.5


def test_shades_of_gray_leaves_a_neutral_image_as_it_is():
    grey = np.repeat(np.linspace(0, 255, 64 * 64).reshape(64, 64, 1), 3, axis=2).astype(np.uint8)
    assert np.array_equal(shades_of_gray(grey), grey)


def test_normalisations_after_the_first_print_their_per_fold_differences(small_isic_copy, capsys):
    argv = ["--data", str(small_isic_copy), "--folds", "3", "--normalisation", "per-image-rescaled", "fixed"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for pooling in POOLINGS:
        assert f"frozen ImageNet features (per-image-rescaled scaling), {pooling} |" in out
        assert f"frozen ImageNet features (fixed scaling), {pooling} |" in out
        assert f"fixed minus per-image-rescaled, {pooling} |" in out
    assert "frozen ImageNet features, whole image |" not in out


def test_a_fold_file_that_misses_images_is_refused(small_isic_copy, tmp_path, capsys):
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"ISIC_0000000": 0}))
    assert main(["--data", str(small_isic_copy), "--folds-file", str(folds)]) == 2
    assert "fold file does not match these samples" in capsys.readouterr().err
