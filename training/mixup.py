"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019): train on blends of pairs of images and of their targets.

Both act on a whole batch after augmentation: each image is combined with another image of the same
batch (a random permutation), with one weight lam ~ Beta(alpha, alpha) per batch. Mixup blends the whole
images; CutMix pastes a box of the partner, covering a share 1 - lam of the image, over the image. The
mask follows its pixels and the labels are blended with the share each image keeps, so the soft
targets stay consistent with the input. Both draw from torch's global generator, which the training
script seeds.
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


def cutmix(batch: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """The batch with a box of each image and mask replaced by its partner's, labels blended by area."""
    if alpha <= 0:
        return batch
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    order = torch.randperm(len(batch["image"])).to(batch["image"].device)
    height, width = batch["image"].shape[-2:]
    top, bottom, left, right = _box(height, width, 1 - lam)
    kept = 1 - (bottom - top) * (right - left) / (height * width)
    mixed = dict(batch)
    for key in ("image", "mask"):
        if key in batch:
            mixed[key] = batch[key].clone()
            mixed[key][..., top:bottom, left:right] = batch[key][order][..., top:bottom, left:right]
    if "labels" in batch:
        mixed["labels"] = kept * batch["labels"] + (1 - kept) * batch["labels"][order]
    return mixed


def _box(height: int, width: int, share: float) -> tuple[int, int, int, int]:
    """A box of the given share of the image's area around a uniform centre, clipped to the image."""
    box_h, box_w = round(height * share ** 0.5), round(width * share ** 0.5)
    y, x = int(torch.randint(height, ())), int(torch.randint(width, ()))
    return (max(y - box_h // 2, 0), min(y + box_h - box_h // 2, height),
            max(x - box_w // 2, 0), min(x + box_w - box_w // 2, width))
