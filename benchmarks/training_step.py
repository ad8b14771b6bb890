"""Training-step benchmark: seconds per optimisation step of each network, float32 vs bfloat16 autocast.

One step is what `training.train` does per batch (forward, the real multi-task loss, backward, AdamW),
on a synthetic batch so data loading is left out. The table projects one epoch on a 1600-image
training fold and the 40-epoch recipe, which is how a CPU-only session plans what fits.

    python -m benchmarks.training_step [--device cpu] [--batch-size 32] [--steps 3]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from training.losses import MultiTaskLoss
from training.models import LesionNet, ModelConfig

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


def seconds_per_step(config: ModelConfig, bf16: bool, device: str, batch_size: int, steps: int) -> float:
    """Median over `steps` timed steps, after one untimed warm-up step."""
    torch.manual_seed(0)
    model = LesionNet(config).to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = MultiTaskLoss(pos_weight=torch.full((2,), 3.0))
    image = torch.randn(batch_size, 3, 256, 256, device=device).contiguous(memory_format=torch.channels_last)
    batch = {"labels": (torch.rand(batch_size, 2, device=device) < 0.2).float(),
             "mask": (torch.rand(batch_size, 1, 256, 256, device=device) < 0.3).float()}
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            outputs = model(image)
        loss = loss_fn(outputs, batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sorted(times[1:])[len(times[1:]) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="timed steps per configuration (median reported)")
    args = p.parse_args(argv)
    print(f"device {args.device}, {torch.get_num_threads()} threads, batch {args.batch_size}, 256 x 256 input\n")
    print("| network | precision | s / step | images / s | epoch (1600 images) | 40 epochs | bf16 speed-up |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        fp32 = None
        for bf16 in (False, True):
            seconds = seconds_per_step(case.config, bf16, args.device, args.batch_size, args.steps)
            fp32 = fp32 or seconds
            epoch = seconds * FOLD_IMAGES / args.batch_size
            print(f"| {case.name} | {'bf16' if bf16 else 'fp32'} | {seconds:.2f} | {args.batch_size / seconds:.1f} "
                  f"| {epoch:.0f} s | {epoch * EPOCHS / 60:.0f} min | {fp32 / seconds:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
