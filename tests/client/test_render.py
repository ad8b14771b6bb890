"""Mask and overlay files written by the CLI's --out."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from client.render import OVERLAY_COLOUR, overlay_mask, write_mask_and_overlay


def test_overlay_tints_only_the_lesion() -> None:
    rgb = np.full((4, 6, 3), 100, np.uint8)
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:4] = 255
    out = overlay_mask(rgb, mask, opacity=0.5)
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(out[1, 2], np.round(0.5 * 100 + 0.5 * np.array(OVERLAY_COLOUR)))


def test_files_at_original_size_with_exif_rotation(tmp_path, exif_rotated_jpeg: bytes) -> None:
    mask = np.zeros((256, 200), np.uint8)
    mask[:10] = 255
    mask_path, overlay_path = write_mask_and_overlay(exif_rotated_jpeg, mask, tmp_path, "x")
    np.testing.assert_array_equal(np.asarray(Image.open(mask_path)), mask)
    assert Image.open(overlay_path).size == (200, 256)
    assert Image.open(io.BytesIO(exif_rotated_jpeg)).size == (256, 200)  # stored sideways
