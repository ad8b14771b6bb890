"""Multi-task loss: BCE + soft Dice for the mask; class-weighted BCE (optionally focal) per label, or one
class-weighted cross-entropy over the labels and "neither" for an exclusive label head."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from lesion.contract import LABELS

LABEL_LOSSES = ("bce", "focal", "softmax")
FOCAL_GAMMA = 2.0


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
    class_weight (one per label and one for "neither") replaces the per-label BCE with the weighted
    cross-entropy of exclusive_cross_entropy: the loss of a softmax, for a model with an exclusive head.
    focal_gamma above 0 turns the per-label BCE into focal_bce.
    """

    pos_weight: torch.Tensor
    seg_weight: float = 1.0
    cls_weight: float = 1.0
    class_weight: torch.Tensor | None = None
    focal_gamma: float = 0.0

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts: dict[str, torch.Tensor] = {}
        if "mask" in outputs:
            logits, target = outputs["mask"].float(), batch["mask"]
            parts["seg"] = F.binary_cross_entropy_with_logits(logits, target) + soft_dice_loss(logits, target)
        if LABELS[0] in outputs:
            logits = torch.cat([outputs[label].float() for label in LABELS], dim=1)
            parts["cls"] = (
                exclusive_cross_entropy(logits, batch["labels"], self.class_weight.to(logits.device))
                if self.class_weight is not None
                else focal_bce(logits, batch["labels"], self.pos_weight.to(logits.device), self.focal_gamma)
            )
        total = self.seg_weight * parts.get("seg", 0.0) + self.cls_weight * parts.get("cls", 0.0)
        return {"loss": total, **parts}


def focal_bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor, gamma: float) -> torch.Tensor:
    """Class-weighted BCE with each term scaled by (1 - p_t) ** gamma (Lin et al. 2017's focal loss).

    The scale shrinks the loss of images the head already gets right, so training dwells on the hard
    ones; gamma 0 is the plain class-weighted BCE.
    """
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    if gamma == 0:
        return bce.mean()
    p = torch.sigmoid(logits)
    p_true = p * target + (1 - p) * (1 - target)
    return ((1 - p_true) ** gamma * bce).mean()


def label_pos_weight(labels: torch.Tensor) -> torch.Tensor:
    """negatives / positives per label column (1 where a label has no positives)."""
    positives = labels.sum(0)
    negatives = labels.shape[0] - positives
    return torch.where(positives > 0, negatives / positives.clamp(min=1), torch.ones_like(positives))


def exclusive_class(labels: torch.Tensor) -> torch.Tensor:
    """Class index per image: the label it holds, or len(LABELS) for "neither" (one label at most)."""
    neither = torch.full_like(labels[:, :1], 0.5)
    return torch.cat([labels, neither], dim=1).argmax(1)


def exclusive_cross_entropy(log_odds: torch.Tensor, labels: torch.Tensor, class_weight: torch.Tensor,
                            floor: float = 1e-6) -> torch.Tensor:
    """Weighted cross-entropy of the softmax behind an exclusive head, from the log-odds it returns.

    The head's outputs are each label's log-odds, so the labels' probabilities are their sigmoids and
    "neither" has what is left (floored, where the labels take it all).
    """
    p = torch.sigmoid(log_odds)
    neither = (1 - p.sum(1, keepdim=True)).clamp(min=floor)
    log_p = torch.cat([F.logsigmoid(log_odds), neither.log()], dim=1)
    return F.nll_loss(log_p, exclusive_class(labels), weight=class_weight)


def label_class_weight(labels: torch.Tensor) -> torch.Tensor:
    """Balanced weights n / (classes * count) for the labels and "neither" (1 for a class with no images)."""
    counts = torch.bincount(exclusive_class(labels), minlength=labels.shape[1] + 1).float()
    weight = labels.shape[0] / (len(counts) * counts.clamp(min=1))
    return torch.where(counts > 0, weight, torch.ones_like(weight))
