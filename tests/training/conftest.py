from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesion.contract import LABELS
from training.held_out import write_held_out

PREFIX = "ISIC-2017_Training"


def write_split(root: Path, n: int = 4, size: tuple[int, int] = (48, 40), masks: bool = True) -> Path:
    """A tiny synthetic split in the official layout: n images (width x height), labels and masks."""
    (root / f"{PREFIX}_Data").mkdir(parents=True)
    if masks:
        (root / f"{PREFIX}_Part1_GroundTruth").mkdir()
    rng = np.random.default_rng(0)
    with (root / f"{PREFIX}_Part3_GroundTruth.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        for i in range(n):
            image_id = f"ISIC_{i:07d}"
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"{PREFIX}_Data" / f"{image_id}.jpg")
            if masks:
                mask = np.zeros((size[1], size[0]), np.uint8)
                mask[size[1] // 4 : 3 * size[1] // 4, size[0] // 4 : 3 * size[0] // 4] = 255
                Image.fromarray(mask).save(root / f"{PREFIX}_Part1_GroundTruth" / f"{image_id}_segmentation.png")
            writer.writerow([image_id, float(i % 3 == 1), float(i % 3 == 2)])
    return root


def write_held_out_run(root: Path, samples, scores: np.ndarray) -> Path:
    """A fold run's held-out predictions file: these samples' ids and labels, scores as N x LABELS."""
    write_held_out(root, [s.image_id for s in samples], np.stack([s.labels for s in samples]),
                   {label: scores[:, i] for i, label in enumerate(LABELS)}, np.zeros(len(samples)))
    return root


@pytest.fixture
def synthetic_split(tmp_path: Path) -> Path:
    return write_split(tmp_path / "data")


@pytest.fixture(scope="session")
def small_isic_copy(isic_samples, tmp_path_factory) -> Path:
    """24 real ISIC images (8 per diagnosis) copied into a temp folder in the official layout."""
    root = tmp_path_factory.mktemp("isic_small")
    picks = [s for d in (0, 1, 2) for s in [x for x in isic_samples if x.diagnosis == d][:8]]
    (root / f"{PREFIX}_Data").mkdir()
    (root / f"{PREFIX}_Part1_GroundTruth").mkdir()
    with (root / f"{PREFIX}_Part3_GroundTruth.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        for s in picks:
            shutil.copy(s.image_path, root / f"{PREFIX}_Data")
            shutil.copy(s.mask_path, root / f"{PREFIX}_Part1_GroundTruth")
            writer.writerow([s.image_id, s.melanoma, s.seborrheic_keratosis])
    return root
