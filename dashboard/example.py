"""A synthetic example photo, so the Analyse page can be tried without data (ISIC images are not shipped)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

EXAMPLE_NAME = "synthetic_example.jpg"


def synthetic_lesion_jpeg(size: tuple[int, int] = (480, 640), seed: int = 2017) -> bytes:
    """Skin-coloured noise with a dark irregular blob: not a real lesion, only a demo input."""
    height, width = size
    rng = np.random.default_rng(seed)
    skin = np.array([224, 172, 150], np.float32) + rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray(np.clip(skin, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cy, cx = height / 2, width / 2
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = min(height, width) * 0.25 * (1 + 0.15 * rng.standard_normal(angles.size))
    draw.polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii)], fill=(110, 62, 45))
    image = image.filter(ImageFilter.GaussianBlur(3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()
