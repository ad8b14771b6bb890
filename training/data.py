"""Reader for the official ISIC 2017 layout, stratified folds, and the torch Dataset.

Layout under a data root, for a split prefix such as `ISIC-2017_Training`:
  <prefix>_Data/ISIC_XXXXXXX.jpg
  <prefix>_Part1_GroundTruth/ISIC_XXXXXXX_segmentation.png   (optional folder: the test split may lack it)
  <prefix>_Part3_GroundTruth.csv                              (image_id,melanoma,seborrheic_keratosis)
Any image size reads: the 256 x 256 copy in ../shared and a full-size archive download alike.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import Dataset

from lesion.contract import INPUT_SIZE, LABELS
from lesion.preprocessing import NORMALISATIONS, ImageDecodeError, decode_image, resize_image

SPLITS = {
    "training": "ISIC-2017_Training",
    "validation": "ISIC-2017_Validation",
    "test": "ISIC-2017_Test_v2",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(ValueError):
    """The data folder does not hold what the ISIC 2017 layout promises; the message names the file."""


@dataclass(frozen=True)
class Sample:
    image_id: str
    image_path: Path
    mask_path: Path | None
    melanoma: float
    seborrheic_keratosis: float

    @property
    def labels(self) -> np.ndarray:
        return np.array([self.melanoma, self.seborrheic_keratosis], dtype=np.float32)

    @property
    def diagnosis(self) -> int:
        """0 nevus, 1 melanoma, 2 seborrheic keratosis: the strata of the folds."""
        return 1 if self.melanoma else 2 if self.seborrheic_keratosis else 0


def _read_labels(csv_path: Path) -> dict[str, tuple[float, float]]:
    if not csv_path.is_file():
        raise DatasetError(f"label file missing: {csv_path}")
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"image_id", *LABELS} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        try:
            return {row["image_id"]: (float(row[LABELS[0]]), float(row[LABELS[1]])) for row in reader}
        except ValueError as err:
            raise DatasetError(f"{csv_path}: non-numeric label ({err})") from err


def read_split(root: Path, split: str = "training") -> list[Sample]:
    """All samples of a split, sorted by image id. `split` is a key of SPLITS or a folder prefix."""
    root = Path(root)
    prefix = SPLITS.get(split, split)
    image_dir = root / f"{prefix}_Data"
    if not image_dir.is_dir():
        raise DatasetError(f"image folder missing: {image_dir}")
    labels = _read_labels(root / f"{prefix}_Part3_GroundTruth.csv")
    mask_dir = root / f"{prefix}_Part1_GroundTruth"
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"no images in {image_dir}")
    samples = []
    for path in images:
        image_id = path.stem
        if image_id not in labels:
            raise DatasetError(f"{path.name}: no label row for {image_id} in {prefix}_Part3_GroundTruth.csv")
        mask_path = None
        if mask_dir.is_dir():
            mask_path = mask_dir / f"{image_id}_segmentation.png"
            if not mask_path.is_file():
                raise DatasetError(f"{path.name}: mask missing: {mask_path}")
        samples.append(Sample(image_id, path, mask_path, *labels[image_id]))
    return samples


def load_image(sample: Sample) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB uint8 image, possibly reduced for big JPEGs; full-resolution (height, width))."""
    try:
        decoded = decode_image(sample.image_path.read_bytes())
    except (ImageDecodeError, OSError) as err:
        raise DatasetError(f"{sample.image_path}: {err}") from err
    return decoded.rgb, decoded.original_size


def load_mask(sample: Sample, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """The ground-truth mask as bool H x W; given the image's (height, width), its size must equal it."""
    assert sample.mask_path is not None
    try:
        with Image.open(sample.mask_path) as img:
            mask = np.asarray(img.convert("L")) > 127
    except OSError as err:
        raise DatasetError(f"{sample.mask_path}: corrupt or unreadable mask ({err})") from err
    if expected_size is not None and mask.shape != tuple(expected_size):
        raise DatasetError(
            f"{sample.mask_path.name}: mask is {mask.shape[1]} x {mask.shape[0]} but its image is "
            f"{expected_size[1]} x {expected_size[0]}"
        )
    return mask


def make_folds(samples: Sequence[Sample], k: int = 5, seed: int = 0) -> dict[str, int]:
    """Stratified (by diagnosis) assignment image_id -> fold in 0..k-1."""
    strata = [s.diagnosis for s in samples]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = {}
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(samples)), strata)):
        for i in held_out:
            folds[samples[i].image_id] = fold
    return folds


def save_folds(path: Path, folds: dict[str, int]) -> None:
    Path(path).write_text(json.dumps(folds, indent=0, sort_keys=True) + "\n")


def load_or_make_folds(path: Path, samples: Sequence[Sample], k: int, seed: int) -> dict[str, int]:
    """Reuse a saved fold file (so runs are reproducible and comparable) or write a new one."""
    path = Path(path)
    if path.is_file():
        folds = {key: int(v) for key, v in json.loads(path.read_text()).items()}
        unknown = {s.image_id for s in samples} - folds.keys()
        if unknown or len(set(folds.values())) != k:
            raise DatasetError(f"{path}: fold file does not match these samples or --folds {k}; delete it")
        return folds
    folds = make_folds(samples, k, seed)
    save_folds(path, folds)
    return folds


class LesionDataset(Dataset):
    """Images and masks at INPUT_SIZE, decoded once and held in memory (2000 images: ~400 MB).

    `augment` takes and returns (image HxWx3 uint8, mask HxW uint8) at INPUT_SIZE; normalisation comes
    after it, through the same function the server uses. With `lesion_crop` every image and mask is first
    replaced by its ground-truth lesion's square (`crop_to_lesion`).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        augment: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
        progress: bool = False,
        normalisation: str = "per-image",
        lesion_crop: float | None = None,
    ) -> None:
        from tqdm import tqdm

        self.samples = list(samples)
        self.augment = augment
        self.normalise = NORMALISATIONS[normalisation]
        self.images, self.masks = [], []
        for sample in tqdm(self.samples, desc="loading images", disable=not progress, unit="img"):
            rgb, size = load_image(sample)
            self.images.append(resize_image(rgb))
            mask = load_mask(sample, size) if sample.mask_path else np.zeros(size, dtype=bool)
            self.masks.append(resize_mask(mask))
            if lesion_crop is not None:
                self.images[-1], self.masks[-1] = crop_to_lesion(self.images[-1], self.masks[-1], lesion_crop)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        image, mask = self.images[index], self.masks[index]
        if self.augment is not None:
            image, mask = self.augment(image, mask)
        return {
            "image": self.normalise(image),
            "mask": (mask[None] > 127).astype(np.float32),
            "labels": self.samples[index].labels,
        }


def resize_mask(mask: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A bool mask -> size x size uint8, 0 or 255."""
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    if img.size != (size, size):
        img = img.resize((size, size), Image.NEAREST)
    return np.asarray(img)


def crop_to_lesion(image: np.ndarray, mask: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The square around the mask's bounding box, widened on each side by `margin` times the box's longer
    side and kept inside the image, enlarged back to the image's size; the pair unchanged where the mask
    is empty.

    Image H x W x 3 and mask H x W (0/255) uint8, H == W. Cut with the ground-truth mask, such crops bound
    what a classifier could gain from crops cut with a predicted one.
    """
    rows, cols = np.nonzero(mask > 127)
    if rows.size == 0:
        return image, mask
    size = image.shape[0]
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = min(size, round(max(bottom - top, right - left) * (1 + 2 * margin)))
    top = int(np.clip((top + bottom - side) // 2, 0, size - side))
    left = int(np.clip((left + right - side) // 2, 0, size - side))
    box = (left, top, left + side, top + side)
    return (np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR, box=box)),
            np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST, box=box)))
