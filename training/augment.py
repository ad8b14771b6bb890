"""Training augmentation (albumentations keeps the mask aligned with the image).

Rotation and flips as in the seed paper, plus scale/shift and mild colour jitter for dermoscopes that
differ in illumination. Applied to uint8 images before the shared normalisation.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


class Augment:
    def __init__(self, strength: float = 1.0) -> None:
        self.transform = A.Compose(
            [
                A.HorizontalFlip(p=0.5),
                A.VerticalFlip(p=0.5),
                A.RandomRotate90(p=0.5),
                A.Affine(
                    rotate=(-180, 180), scale=(1 - 0.15 * strength, 1 + 0.15 * strength),
                    translate_percent=(-0.05 * strength, 0.05 * strength),
                    border_mode=cv2.BORDER_REFLECT_101, p=0.8,
                ),
                A.ColorJitter(
                    brightness=0.2 * strength, contrast=0.2 * strength, saturation=0.15 * strength,
                    hue=0.03 * strength, p=0.8,
                ),
            ]
        )

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"]
