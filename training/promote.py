"""Make a trained checkpoint the project's default model (what serving, demo and evaluate use).

    python -m training.promote runs/default/best.pt

Writes models/lesion_multitask.pt with weights, config, calibration and metrics only (no optimizer
state: about 17 MB instead of 51 MB), so it stays under the 25 MB the repository allows.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.checkpoint import DEFAULT_MODEL, Checkpoint, load_checkpoint, save_checkpoint

MAX_BYTES = 25 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a training checkpoint (best.pt or last.pt)")
    p.add_argument("--output", type=Path, default=DEFAULT_MODEL)
    args = p.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_checkpoint(args.output, Checkpoint(ckpt.model, ckpt.calibration, ckpt.epoch, ckpt.metrics))
    size = args.output.stat().st_size
    print(f"{args.output}: epoch {ckpt.epoch}, {size / 1e6:.1f} MB")
    if size > MAX_BYTES:
        print("error: over the repository's 25 MB limit for the default model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
