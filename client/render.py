"""Mask and overlay images from an AnalysisResult (the CLI's --out; reusable by the dashboard)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

OVERLAY_COLOUR = (255, 0, 0)
OVERLAY_ALPHA = 0.4


def full_resolution_rgb(data: bytes) -> np.ndarray:
    """Decode at full size with EXIF orientation applied: the frame the server's mask refers to."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def overlay(rgb: np.ndarray, mask: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Tint the lesion (mask > 0) in OVERLAY_COLOUR over the photo; sizes must match."""
    if rgb.shape[:2] != mask.shape:
        raise ValueError(f"image is {rgb.shape[:2]} but mask is {mask.shape}")
    out = rgb.astype(np.float32)
    lesion = mask > 0
    out[lesion] = (1 - alpha) * out[lesion] + alpha * np.asarray(OVERLAY_COLOUR, np.float32)
    return out.round().astype(np.uint8)


def write_mask_and_overlay(data: bytes, mask: np.ndarray, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write <stem>_mask.png (0/255, original size) and <stem>_overlay.png; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = out_dir / f"{stem}_mask.png"
    overlay_path = out_dir / f"{stem}_overlay.png"
    Image.fromarray(np.asarray(mask, dtype=np.uint8)).save(mask_path)
    Image.fromarray(overlay(full_resolution_rgb(data), mask)).save(overlay_path)
    return mask_path, overlay_path
