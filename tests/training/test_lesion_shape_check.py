"""The ABCD cues: a round lesion is symmetric and compact, a ragged one is not; the stacking runs on real images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.data import DatasetError, read_split
from training.lesion_shape_check import CUES, cues, main

from .conftest import write_held_out_run


def _photo(mask: np.ndarray, lesion_grey: int = 60, skin_grey: int = 200) -> np.ndarray:
    return np.where(mask[..., None], lesion_grey, skin_grey).astype(np.uint8).repeat(3, axis=2)


def _cue(values: np.ndarray, name: str) -> float:
    return float(values[CUES.index(name)])


def disk() -> np.ndarray:
    return cv2.circle(np.zeros((128, 128), np.uint8), (64, 64), 30, 1, -1).astype(bool)


def ragged() -> np.ndarray:
    """An L: one arm long, the other short, so no mirror image matches it."""
    mask = np.zeros((128, 128), bool)
    mask[20:100, 30:50] = True
    mask[80:100, 30:110] = True
    return mask


def test_a_round_lesion_is_symmetric_compact_and_solid():
    values = cues(_photo(disk()), disk())
    assert _cue(values, "asymmetry, the less symmetric axis") < 0.05
    assert _cue(values, "compactness") < 1.2
    assert _cue(values, "solidity") > 0.97
    assert _cue(values, "eccentricity") < 0.2


def test_a_ragged_lesion_is_asymmetric_and_not_convex():
    values = cues(_photo(ragged()), ragged())
    assert _cue(values, "asymmetry, the less symmetric axis") > 0.2
    assert _cue(values, "solidity") < 0.7
    assert _cue(values, "compactness") > 1.5


def test_colour_contrast_and_sharpness_follow_the_photo():
    sharp = cues(_photo(disk()), disk())
    faint = cues(_photo(disk(), lesion_grey=180), disk())
    assert _cue(sharp, "L contrast") < _cue(faint, "L contrast") < 0
    assert _cue(sharp, "border sharpness") > _cue(faint, "border sharpness")
    assert _cue(sharp, "L spread") == pytest.approx(0, abs=1e-6)


def test_an_empty_mask_is_a_clear_error():
    with pytest.raises(DatasetError, match="no lesion"):
        cues(_photo(disk()), np.zeros((128, 128), bool))


def test_the_check_stacks_cues_with_held_out_predictions_of_real_images(small_isic_copy, tmp_path, capsys):
    samples = read_split(small_isic_copy)
    labels = np.stack([s.labels for s in samples])
    scores = np.clip(labels * 0.6 + np.random.default_rng(0).random(labels.shape) * 0.4, 0.01, 0.99)
    run = write_held_out_run(tmp_path / "run", samples, scores)
    assert main(["--data", str(small_isic_copy), "--folds", "3", "--bootstrap", "20", str(run)]) == 0
    out = capsys.readouterr().out
    assert "24 images, 3 folds" in out
    for row in ("ABCD cues (ground-truth mask) |", "network (runs) |", "network + ABCD cues, stacked |"):
        assert row in out
