"""Training-step benchmark: seconds per optimisation step of each network, float32 vs bfloat16 autocast.

A step is `training.train`'s own epoch loop per batch (forward, the multi-task loss, backward, AdamW,
scheduler), on one synthetic sample served again and again, so reading and augmenting images is left
out. The table projects one epoch on a 1600-image training fold and the 40-epoch recipe: how a CPU-only
session plans what fits.

    python -m benchmarks.training_step [--device cpu] [--batch-size 32] [--steps 3] [--encoder inception]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import torch
from torch.utils.data import DataLoader, Dataset

from training.encoders import ENCODERS
from training.losses import MultiTaskLoss
from training.models import LesionNet, ModelConfig
from training.train import cpu_has_native_bf16, train_one_epoch

FOLD_IMAGES = 1600
EPOCHS = 40


@dataclass(frozen=True)
class Case:
    name: str
    config: ModelConfig


CASES = (
    Case("multi-task", ModelConfig(task="multi", pretrained=False)),
    Case("segmentation only", ModelConfig(task="seg", pretrained=False)),
    Case("classification only", ModelConfig(task="cls", pretrained=False)),
    Case("classification only, input x1.25", ModelConfig(task="cls", pretrained=False, input_scale=1.25)),
    Case("classification only, input x1.5", ModelConfig(task="cls", pretrained=False, input_scale=1.5)),
)


class SyntheticImages(Dataset):
    """One random image, mask and label pair, served `length` times (what the loader costs is left out)."""

    def __init__(self, length: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.length = length
        self.item = {"image": torch.randn(3, 256, 256, generator=generator),
                     "mask": (torch.rand(1, 256, 256, generator=generator) < 0.3).float(),
                     "labels": torch.tensor([1.0, 0.0])}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.item


def seconds_per_step(config: ModelConfig, bf16: bool, device: str, batch_size: int, steps: int) -> float:
    """Mean over an epoch of `steps` batches of training.train's own epoch loop, after a one-batch warm-up epoch."""
    torch.manual_seed(0)
    model = LesionNet(config).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    loss_fn = MultiTaskLoss(pos_weight=torch.full((2,), 3.0))
    for epoch, batches in enumerate((1, steps)):
        loader = DataLoader(SyntheticImages(batches * batch_size), batch_size=batch_size)
        started = time.perf_counter()
        train_one_epoch(model, loader, loss_fn, optimizer, scheduler, device, epoch, bf16=bf16)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="timed steps per configuration (their mean is reported)")
    p.add_argument("--encoder", default=ModelConfig.encoder, choices=ENCODERS,
                   help="the encoder of every network timed (weights random: only the speed is measured)")
    args = p.parse_args(argv)
    print(f"device {args.device}, {torch.get_num_threads()} threads, batch {args.batch_size}, 256 x 256 input, "
          f"encoder {args.encoder}")
    print(f"CPU {torch.backends.cpu.get_cpu_capability()}, native bf16: "
          f"{'yes' if cpu_has_native_bf16() else 'no (emulated, slow)'}\n")
    print("| network | precision | s / step | images / s | epoch (1600 images) | 40 epochs | bf16 speed-up |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        fp32 = None
        config = replace(case.config, encoder=args.encoder)
        for bf16 in (False, True):
            seconds = seconds_per_step(config, bf16, args.device, args.batch_size, args.steps)
            fp32 = fp32 or seconds
            epoch = seconds * FOLD_IMAGES / args.batch_size
            print(f"| {case.name} | {'bf16' if bf16 else 'fp32'} | {seconds:.2f} | {args.batch_size / seconds:.1f} "
                  f"| {epoch:.0f} s | {epoch * EPOCHS / 60:.0f} min | {fp32 / seconds:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
