"""The multi-task lesion network and its single-task variants.

In the spirit of segmentation_models_pytorch: a typed constructor, and a forward that returns named
outputs (logits; the exported graph applies the sigmoid).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lesion.contract import LABELS
from lesion.preprocessing import NORMALISATIONS
from training.encoders import build_encoder

TASKS = ("multi", "seg", "cls")
POOLINGS = ("global", "lesion")
LABEL_HEADS = ("independent", "exclusive")


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "efficientnet_lite0"
    task: str = "multi"
    decoder_channels: tuple[int, ...] = (128, 64, 48, 32, 16)
    dropout: float = 0.2
    pretrained: bool = True
    cls_pooling: str = "global"
    input_scale: float = 1.0
    input_normalisation: str = "per-image"
    label_head: str = "independent"
    lesion_crop: float | None = None  # trained and scored on ground-truth lesion crops: experiments only

    def to_dict(self) -> dict:
        return asdict(self)


class DecoderBlock(nn.Module):
    """Upsample x2, concatenate the skip connection, two 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin + cskip, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class UNetDecoder(nn.Module):
    """U-Net decoder from stride 32 to stride 1, with skips at strides 16, 8, 4 and 2."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        skips = list(reversed(encoder_channels[:-1])) + [0]
        cins = [encoder_channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(cin, cskip, cout) for cin, cskip, cout in zip(cins, skips, decoder_channels)
        )
        self.head = nn.Conv2d(decoder_channels[-1], 1, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x, skips = features[-1], list(reversed(features[:-1])) + [None]
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
        return self.head(x)


class IndependentHeads(nn.ModuleDict):
    """One binary logistic head per label."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__({label: nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, 1)) for label in LABELS})

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        return {label: head(pooled) for label, head in self.items()}


class ExclusiveHead(nn.Module):
    """One softmax over the labels and "neither" (a nevus, in ISIC 2017): a lesion has one diagnosis.

    Evidence for one label is then evidence against the other. Returns each label's log-odds,
    log(p / (1 - p)) of its softmax probability, so the sigmoid every stage applies gives that probability.
    """

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.logits = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, len(LABELS) + 1))

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.logits(pooled)
        out = {}
        for i, label in enumerate(LABELS):
            others = torch.cat([z[:, :i], z[:, i + 1:]], dim=1)
            out[label] = z[:, i:i + 1] - torch.logsumexp(others, dim=1, keepdim=True)
        return out


class LesionNet(nn.Module):
    """Shared encoder; U-Net decoder for the mask; a binary head per label (or one softmax over them).

    task="multi" returns {"mask", "melanoma", "seborrheic_keratosis"}; "seg" only "mask"; "cls" only
    the labels. All values are logits: mask N x 1 x H x W, labels N x 1.

    input_scale > 1 (classification only) enlarges the image inside the network before the encoder, so a
    classifier can see the 256 x 256 contract input at a finer scale while every stage still sends it
    the same tensor.

    label_head="exclusive" replaces the binary heads with one softmax over the labels and "neither"
    (ExclusiveHead); the outputs keep their names and meaning.

    cls_pooling="lesion" (multi-task only) lets the segmentation guide the classifier: the heads see the
    global average of the deepest features and also their average weighted by the predicted mask. The
    mask is detached there, so the classification loss cannot bend the segmentation to its own ends.
    """

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        if config.task not in TASKS:
            raise ValueError(f"unknown task {config.task!r}; choose from {', '.join(TASKS)}")
        if config.cls_pooling not in POOLINGS or (config.cls_pooling == "lesion" and config.task != "multi"):
            raise ValueError(f"cls_pooling {config.cls_pooling!r} needs one of {', '.join(POOLINGS)}, "
                             "and 'lesion' needs task='multi'")
        if config.input_scale < 1.0 or (config.input_scale != 1.0 and config.task != "cls"):
            raise ValueError(f"input_scale {config.input_scale} must be at least 1, and above 1 needs task='cls'")
        if config.input_normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown input_normalisation {config.input_normalisation!r}; "
                             f"choose from {', '.join(NORMALISATIONS)}")
        if config.lesion_crop is not None and (config.lesion_crop < 0 or config.task != "cls"):
            raise ValueError(f"lesion_crop {config.lesion_crop} must be a margin of at least 0 and needs task='cls'")
        if config.label_head not in LABEL_HEADS:
            raise ValueError(f"unknown label_head {config.label_head!r}; choose from {', '.join(LABEL_HEADS)}")
        self.config = config
        self.encoder = build_encoder(config.encoder, pretrained=config.pretrained)
        self.decoder = (
            UNetDecoder(self.encoder.out_channels, config.decoder_channels) if config.task != "cls" else None
        )
        head = ExclusiveHead if config.label_head == "exclusive" else IndependentHeads
        self.heads = head(self._pooled_channels(), config.dropout) if config.task != "seg" else None

    def _pooled_channels(self) -> int:
        return self.encoder.pooled_channels * (2 if self.config.cls_pooling == "lesion" else 1)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (("mask",) if self.decoder is not None else ()) + (LABELS if self.heads is not None else ())

    @property
    def input_normalisation(self) -> str:
        return self.config.input_normalisation

    @property
    def lesion_crop(self) -> float | None:
        """The margin of the ground-truth lesion crops this network learnt from (training.data.crop_to_lesion)."""
        return self.config.lesion_crop

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.config.input_scale != 1.0:
            image = F.interpolate(image, scale_factor=self.config.input_scale, mode="bilinear", align_corners=False)
        features = self.encoder(image)
        out: dict[str, torch.Tensor] = {}
        if self.decoder is not None:
            out["mask"] = self.decoder(features)
        if self.heads is not None:
            out.update(self.heads(self._pool(self.encoder.head_features(features[-1]), out.get("mask"))))
        return out

    def _pool(self, maps: torch.Tensor, mask_logits: torch.Tensor | None) -> torch.Tensor:
        pooled = maps.mean(dim=(2, 3))
        if self.config.cls_pooling != "lesion":
            return pooled
        stride = 2 ** len(self.encoder.out_channels)  # the deepest features' stride; a constant, so ONNX exports it
        weight = F.avg_pool2d(torch.sigmoid(mask_logits.detach()), kernel_size=stride)
        lesion = (maps * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3)).clamp_min(1e-6)
        return torch.cat([pooled, lesion], dim=1)


class LesionEnsemble(nn.Module):
    """Several trained networks served as one multi-task network (e.g. multi-task + classification-only).

    Returns what a multi-task LesionNet returns, logits, so evaluation, export and serving take it
    unchanged: the mask logits of the members that segment, averaged; for each label the logit of the
    mean of the members' probabilities, so the exported sigmoid gives back that mean (the average
    training.ensemble_check scores on held-out folds).
    """

    def __init__(self, members: list[LesionNet]) -> None:
        super().__init__()
        missing = [name for name in ("mask", *LABELS) if not any(name in m.outputs for m in members)]
        if missing:
            raise ValueError(f"no member of the ensemble predicts {', '.join(missing)}")
        if len({m.input_normalisation for m in members}) > 1:
            raise ValueError("the ensemble's members must share one input normalisation")
        if any(m.lesion_crop is not None for m in members):
            raise ValueError("an ensemble is served whole images; a network trained on lesion crops cannot join it")
        self.members = nn.ModuleList(members)

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("mask", *LABELS)

    @property
    def input_normalisation(self) -> str:
        return self.members[0].input_normalisation

    @property
    def lesion_crop(self) -> None:
        return None

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [member(image) for member in self.members]
        result = {"mask": torch.stack([o["mask"] for o in outs if "mask" in o]).mean(dim=0)}
        for label in LABELS:
            p = torch.stack([torch.sigmoid(o[label]) for o in outs if label in o]).mean(dim=0).clamp(1e-6, 1 - 1e-6)
            result[label] = torch.log(p / (1 - p))
        return result
