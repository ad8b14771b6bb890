"""Mixup (Zhang et al. 2018): train on convex blends of pairs of images and of their targets.

Applied to a whole batch after augmentation: each image is blended with another image of the same
batch (a random permutation) with one weight lam ~ Beta(alpha, alpha) per batch, and so are its mask
and its labels, so the soft targets stay consistent with the blended input. Draws from torch's global
generator, which the training script seeds.
"""
from __future__ import annotations

import torch

MIXED_KEYS = ("image", "mask", "labels")


def mixup(batch: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """The batch with image, mask and labels blended pairwise; unchanged where alpha is 0."""
    if alpha <= 0:
        return batch
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    order = torch.randperm(len(batch["image"])).to(batch["image"].device)
    return {k: lam * v + (1 - lam) * v[order] if k in MIXED_KEYS else v for k, v in batch.items()}
