"""AUC per subgroup: a network that fails only on small lesions shows it in the size rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lesion.contract import LABELS
from training.data import read_split
from training.held_out import HELD_OUT_FILE, read_out_of_fold_by_image
from training.subgroup_check import main, subgroups

from .conftest import PREFIX, write_held_out_run, write_split


def split_with_three_lesion_sizes(root: Path, n: int = 90) -> Path:
    """write_split's images, with lesions of a third, two thirds and all of 30 x 30 pixels by thirds of ids."""
    write_split(root, n=n, size=(30, 30))
    for i in range(n):
        mask = np.zeros((30, 30), np.uint8)
        mask[: 10 * (1 + 3 * i // n)] = 255
        Image.fromarray(mask).save(root / f"{PREFIX}_Part1_GroundTruth" / f"ISIC_{i:07d}_segmentation.png")
    return root


def test_a_network_wrong_on_small_lesions_only_shows_it_in_the_small_row(tmp_path):
    samples = read_split(split_with_three_lesion_sizes(tmp_path / "data"))
    labels = np.stack([s.labels for s in samples])
    small = np.arange(len(samples)) < len(samples) // 3
    scores = np.where(small[:, None], 1 - labels, labels)
    run = write_held_out_run(tmp_path / "run", samples, scores)
    by_image = {s.image_id: scores[i] for i, s in enumerate(samples)}
    rows = {(r.label, r.name.split(" (")[0]): r for r in subgroups(samples, by_image, rounds=50)}
    for label in LABELS:
        assert rows[label, "small lesions"].auc == 0.0
        assert rows[label, "medium lesions"].auc == rows[label, "large lesions"].auc == 1.0
        assert rows[label, "small lesions"].n == 30
    assert rows["melanoma", "vs nevus only"].n == 60
    assert rows["melanoma", "vs nevus only"].positives == 30
    assert main(["--data", str(tmp_path / "data"), "--bootstrap", "20", str(run)]) == 0


def test_predictions_of_images_not_in_the_data_folder_are_a_clear_error(tmp_path, capsys):
    data = split_with_three_lesion_sizes(tmp_path / "data", n=9)
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / HELD_OUT_FILE, image_ids=np.array(["ISIC_9999999"]), labels=np.zeros((1, 2)),
             **{label: np.zeros(1) for label in LABELS}, jaccard=np.zeros(1))
    assert main(["--data", str(data), str(run)]) == 2
    assert "none of the runs' held-out images is in this data folder" in capsys.readouterr().err


def test_an_ensemble_is_scored_on_the_mean_of_its_networks(tmp_path, capsys):
    """Two networks each wrong on a different half of the small lesions: their mean is a tie there."""
    samples = read_split(split_with_three_lesion_sizes(tmp_path / "data"))
    labels = np.stack([s.labels for s in samples]).astype(float)
    index = np.arange(len(samples))[:, None]
    a = write_held_out_run(tmp_path / "a", samples, np.where(index < 15, 1 - labels, labels))
    b = write_held_out_run(tmp_path / "b", samples, np.where((index >= 15) & (index < 30), 1 - labels, labels))
    by_image = read_out_of_fold_by_image([a], [[b]])
    np.testing.assert_allclose(by_image[samples[0].image_id], 0.5)
    np.testing.assert_allclose(by_image[samples[40].image_id], labels[40])
    assert main(["--data", str(tmp_path / "data"), "--bootstrap", "20", str(a), "--ensemble-with", str(b)]) == 0
    assert "| melanoma | small lesions" in capsys.readouterr().out
    write_held_out_run(tmp_path / "c", samples[:60], labels[:60])
    assert main(["--data", str(tmp_path / "data"), str(a), "--ensemble-with", str(tmp_path / "c")]) == 2
    assert "same images" in capsys.readouterr().err
