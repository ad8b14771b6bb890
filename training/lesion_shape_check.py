"""Do the dermatologist's ABCD cues, measured on the lesion's mask, add anything to the network's probabilities?

Per image, from the ground-truth mask (an upper bound for what the network's own masks would give) and
the photo: Asymmetry (the mask against its mirror image about each principal axis), Border (compactness,
solidity, edge sharpness), Colour (CIELAB mean and spread inside the lesion, contrast with the skin
around it) and size (the lesion's share of the image; these photos are squashed to 256 x 256, so no
diameter in millimetres). A logistic regression per label on these cues alone, and one on the cues
plus the network's logits (stacking), are fitted on the other folds and score each held-out fold; the
stacked scores are compared with the network's own, images resampled together.

    python -m training.lesion_shape_check --data ../shared/data/isic2017-256 \\
        --folds-file splits/isic2017_training_5fold_seed0.json \\
        multi/fold{0,1,2,3,4} --ensemble-with cls/fold{0,1,2,3,4}
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lesion.contract import LABELS
from training.compare_runs import differences_table, paired_bootstrap
from training.data import DatasetError, Sample, load_image, load_mask, read_split
from training.frozen_features_check import (
    fold_aucs,
    out_of_fold,
    read_fold_ids,
    table,
    z_logit,
)
from training.held_out import read_out_of_fold_by_image

CUES = ("log area share", "compactness", "solidity", "eccentricity", "asymmetry, the more symmetric axis",
        "asymmetry, the less symmetric axis", "border sharpness", "touches the frame",
        "L mean", "a mean", "b mean", "L spread", "a spread", "b spread",
        "L contrast", "a contrast", "b contrast")
RING = 15


def _asymmetry(mask: np.ndarray) -> tuple[float, float, float]:
    """(eccentricity, asymmetry about the two principal axes, smaller first): the mask is turned so that
    its major axis is horizontal, centred on its centroid, and compared with its mirror images."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    angle = 0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"]))
    size = 2 * int(np.hypot(*mask.shape)) + 1
    turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    turn[:, 2] += (size // 2 - cx, size // 2 - cy)
    upright = cv2.warpAffine(mask.astype(np.uint8), turn, (size, size), flags=cv2.INTER_NEAREST) > 0
    area = upright.sum()
    a, b = (np.logical_xor(upright, np.flip(upright, axis)).sum() / area for axis in (0, 1))
    eigen = np.linalg.eigvalsh([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]])
    return float(np.sqrt(1 - eigen[0] / max(eigen[1], 1e-9))), *sorted((float(a) / 2, float(b) / 2))


def _border(mask: np.ndarray, lightness: np.ndarray) -> tuple[float, float, float, float]:
    """(compactness, solidity, mean lightness gradient on the border band, share of the frame touched)."""
    u8 = mask.astype(np.uint8)
    contour = max(cv2.findContours(u8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=cv2.contourArea)
    area, perimeter = float(mask.sum()), cv2.arcLength(contour, closed=True)
    hull = max(cv2.contourArea(cv2.convexHull(contour)), 1.0)
    kernel = np.ones((5, 5), np.uint8)
    band = (cv2.dilate(u8, kernel) - cv2.erode(u8, kernel)) > 0
    gradient = np.hypot(cv2.Sobel(lightness, cv2.CV_32F, 1, 0), cv2.Sobel(lightness, cv2.CV_32F, 0, 1))
    frame = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    return perimeter ** 2 / (4 * np.pi * area), min(cv2.contourArea(contour) / hull, 1.0), \
        float(gradient[band].mean()), float(frame.mean())


def cues(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """CUES of one photo (RGB uint8) and its lesion mask (bool, same size)."""
    if mask.sum() < 10:
        raise DatasetError("the mask has no lesion to measure")
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    ring = (cv2.dilate(mask.astype(np.uint8), np.ones((2 * RING + 1,) * 2, np.uint8)) > 0) & ~mask
    inside = lab[mask]
    skin = lab[ring].mean(0) if ring.any() else inside.mean(0)  # no ring only when the lesion fills the photo
    compactness, solidity, sharpness, frame = _border(mask, lab[..., 0])
    return np.array([np.log(mask.mean()), compactness, solidity, *_asymmetry(mask), sharpness, frame,
                     *inside.mean(0), *inside.std(0), *(inside.mean(0) - skin)], dtype=np.float64)


def measure(samples: list[Sample]) -> np.ndarray:
    """N x CUES from each image and its ground-truth mask."""
    rows = []
    for s in tqdm(samples, desc="cues", unit="image"):
        rgb = load_image(s)[0]
        try:
            rows.append(cues(rgb, load_mask(s, rgb.shape[:2])))
        except DatasetError as err:
            raise DatasetError(f"{s.image_id}: {err}") from err
    return np.stack(rows)


def run(data: Path, folds_file: Path | None, runs: list[Path], ensemble_with: list[list[Path]] = (),
        k: int = 5, rounds: int = 1000) -> str:
    by_image = read_out_of_fold_by_image(runs, ensemble_with)
    everyone = read_split(data)
    held_out = np.array([s.image_id in by_image for s in everyone])
    if not held_out.any():
        raise DatasetError("the runs hold predictions for none of these images")
    samples = [s for s, kept in zip(everyone, held_out) if kept]
    fold = read_fold_ids(folds_file, everyone, k)[held_out]
    labels = np.stack([s.labels for s in samples])
    network = np.stack([by_image[s.image_id] for s in samples])
    measured = measure(samples)
    stacked = out_of_fold(np.hstack([z_logit(network), measured]), labels, fold)
    rows = {"ABCD cues (ground-truth mask)": fold_aucs(out_of_fold(measured, labels, fold), labels, fold),
            "network (runs)": fold_aucs(network, labels, fold),
            "network + ABCD cues, stacked": fold_aucs(stacked, labels, fold)}
    as_dict = {label: stacked[:, j] for j, label in enumerate(LABELS)}
    alone = {label: network[:, j] for j, label in enumerate(LABELS)}
    gain = paired_bootstrap(labels, as_dict, alone, rounds)
    return (f"{len(samples)} images, {len(np.unique(fold))} folds\n\n{table(rows)}\n\n"
            f"Folds pooled, A = stacked, B = network alone:\n\n{differences_table(gain)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.lesion_shape_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="fold runs with held-out predictions")
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"))
    p.add_argument("--folds-file", type=Path, default=None,
                   help="fold assignment (image id -> fold); default: stratified --folds folds, seed 0")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--ensemble-with", type=Path, nargs="+", action="append", default=[], metavar="RUN",
                   help="another ensemble member's fold runs (the same held-out images); repeat per member")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="paired resamplings of the images")
    args = p.parse_args(argv)
    try:
        print(run(args.data, args.folds_file, args.runs, args.ensemble_with, args.folds, args.bootstrap))
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
