"""Multi-task loss: BCE + soft Dice for the mask, class-weighted BCE per label."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from lesion.contract import LABELS


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - Dice per image on probabilities, averaged over the batch."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    intersection = (prob * target).sum(1)
    return (1 - (2 * intersection + eps) / (prob.sum(1) + target.sum(1) + eps)).mean()


@dataclass
class MultiTaskLoss:
    """Weighted sum of the losses of whichever outputs the model has.

    pos_weight (one per label, negatives/positives in the training data) handles the class imbalance.
    """

    pos_weight: torch.Tensor
    seg_weight: float = 1.0
    cls_weight: float = 1.0

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts: dict[str, torch.Tensor] = {}
        if "mask" in outputs:
            logits, target = outputs["mask"].float(), batch["mask"]
            parts["seg"] = F.binary_cross_entropy_with_logits(logits, target) + soft_dice_loss(logits, target)
        if LABELS[0] in outputs:
            logits = torch.cat([outputs[label].float() for label in LABELS], dim=1)
            parts["cls"] = F.binary_cross_entropy_with_logits(
                logits, batch["labels"], pos_weight=self.pos_weight.to(logits.device)
            )
        total = self.seg_weight * parts.get("seg", 0.0) + self.cls_weight * parts.get("cls", 0.0)
        return {"loss": total, **parts}


def label_pos_weight(labels: torch.Tensor) -> torch.Tensor:
    """negatives / positives per label column (1 where a label has no positives)."""
    positives = labels.sum(0)
    negatives = labels.shape[0] - positives
    return torch.where(positives > 0, negatives / positives.clamp(min=1), torch.ones_like(positives))
