"""Mask and overlay images from an AnalysisResult (the CLI's --out; reusable by the dashboard)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

OVERLAY_COLOUR = (255, 0, 0)
OVERLAY_OPACITY = 0.4


def full_resolution_rgb(data: bytes) -> np.ndarray:
    """Decode at full size with EXIF orientation applied: the frame the server's mask refers to."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def fit_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 0/255 mask at (height, width) `size` (nearest neighbour, so it stays binary)."""
    if mask.shape[:2] == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))


def overlay_mask(
    rgb: np.ndarray, mask: np.ndarray, opacity: float = OVERLAY_OPACITY, colour=OVERLAY_COLOUR
) -> np.ndarray:
    """Blend `colour` over the lesion pixels of an RGB uint8 photo; the mask is resized to the photo."""
    lesion = fit_mask(mask, rgb.shape[:2]) > 0
    out = rgb.astype(np.float32)
    out[lesion] = (1.0 - opacity) * out[lesion] + opacity * np.asarray(colour, np.float32)
    return out.round().astype(np.uint8)


def write_mask_and_overlay(data: bytes, mask: np.ndarray, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write <stem>_mask.png (0/255, original size) and <stem>_overlay.png; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = out_dir / f"{stem}_mask.png"
    overlay_path = out_dir / f"{stem}_overlay.png"
    Image.fromarray(np.asarray(mask, dtype=np.uint8)).save(mask_path)
    Image.fromarray(overlay_mask(full_resolution_rgb(data), mask)).save(overlay_path)
    return mask_path, overlay_path
