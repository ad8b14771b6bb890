"""Parity of an exported model against PyTorch on real images; a failed check fails the export."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesion.preprocessing import preprocess_bytes

DEFAULT_DATA = Path(
    os.environ.get("ISIC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017-256")
)
IMAGE_DIR = "ISIC-2017_Training_Data"

Runner = Callable[[np.ndarray], dict[str, np.ndarray]]  # e.g. training.predict.TorchPredictor


class ParityError(RuntimeError):
    """The exported model disagrees with PyTorch beyond the stated tolerance."""


@dataclass(frozen=True)
class Tolerance:
    """Largest allowed absolute difference of probabilities, and fraction of mask pixels that may flip."""

    probability: float
    mask_flip_fraction: float


ONNX_TOLERANCE = Tolerance(probability=1e-4, mask_flip_fraction=1e-4)
TENSORRT_FP16_TOLERANCE = Tolerance(probability=2e-2, mask_flip_fraction=5e-3)


@dataclass(frozen=True)
class ParityReport:
    images: int
    source: str
    max_abs_diff: dict[str, float]
    mask_flip_fraction: float

    def __str__(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return (
            f"parity on {self.images} {self.source}: max |diff| {diffs}; "
            f"mask pixels flipped at 0.5: {self.mask_flip_fraction:.2e}"
        )


def parity_images(data: Path = DEFAULT_DATA, count: int = 8, seed: int = 0) -> tuple[np.ndarray, str]:
    """A batch of network inputs: real ISIC images when present, else deterministic synthetic ones."""
    files = sorted((Path(data) / IMAGE_DIR).glob("*.jpg"))[:count]
    if files:
        batch = np.stack([preprocess_bytes(f.read_bytes())[0] for f in files])
        return batch, f"ISIC images from {data}"
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 3, 256, 256), dtype=np.float32), "synthetic images (no ISIC data found)"


def compare(reference: Runner, candidate: Runner, batch: np.ndarray, tolerance: Tolerance, source: str) -> ParityReport:
    """Run both on the batch; raise ParityError beyond tolerance, else return what was measured."""
    expected, actual = reference(batch), candidate(batch)
    missing = set(expected) - set(actual)
    if missing:
        raise ParityError(f"exported model lacks outputs {sorted(missing)}")
    diffs = {name: float(np.max(np.abs(expected[name] - actual[name]))) for name in expected}
    flips = 0.0
    if "mask" in expected:
        flips = float(np.mean((expected["mask"] >= 0.5) != (actual["mask"] >= 0.5)))
    report = ParityReport(len(batch), source, diffs, flips)
    worst = float(np.max(list(diffs.values())))  # NaN, not the largest number, when an output is NaN
    if not np.isfinite(worst) or worst > tolerance.probability or flips > tolerance.mask_flip_fraction:
        raise ParityError(f"{report} exceeds tolerance {tolerance}")
    return report
