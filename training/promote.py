"""Make a trained checkpoint, or an ensemble of several, the project's default model.

    python -m training.promote runs/default/best.pt
    python -m training.promote runs/all/best.pt runs/all_cls/weights.pt \
        --calibration-from runs/multi/fold0 ... runs/multi/fold4 --calibration-from runs/cls/fold0 ... runs/cls/fold4

Writes models/lesion_multitask.pt (what serving, demo and evaluate use) with weights, config,
calibration and metrics only (no optimizer state: about 17 MB instead of 51 MB), so it stays under the
25 MB the repository allows. Several checkpoints become one LesionEnsemble (stored in float16); its
calibration is fitted on the mean of the members' out-of-fold predictions, one --calibration-from
group of fold runs per member, in the members' order (a single checkpoint keeps its own calibration).
What float16 storage does to an ensemble's outputs is measured on real images (export.parity) before
the file replaces the old one, and refused beyond the tolerance of an FP16 TensorRT engine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.parity import (
    TENSORRT_FP16_TOLERANCE,
    ParityError,
    ParityReport,
    compare,
    parity_images,
)
from training.checkpoint import (
    DEFAULT_MODEL,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from training.data import DatasetError
from training.ensemble_check import read_groups
from training.held_out import pool
from training.models import LesionEnsemble
from training.predict import TorchPredictor
from training.train import fit_calibration

MAX_BYTES = 25 * 1024 * 1024


def ensemble(checkpoints: list[Checkpoint], calibration_from: list[list[Path]]) -> Checkpoint:
    """One checkpoint of several networks, calibrated on the mean of their held-out probabilities."""
    if len(calibration_from) != len(checkpoints):
        raise DatasetError("give one --calibration-from group of fold runs per checkpoint, in the same order")
    folds = read_groups(calibration_from)
    labels, mean = pool([(y, p[-1]) for y, p in folds])
    held_out = {c.metrics.get("held_out_fold") for c in checkpoints}
    metrics = {"held_out_fold": held_out.pop() if len(held_out) == 1 else -1,
               "members": [c.metrics for c in checkpoints], "calibration_images": len(labels)}
    return Checkpoint(LesionEnsemble([c.model for c in checkpoints]), fit_calibration(labels, mean),
                      max(c.epoch for c in checkpoints), metrics)


def float16_parity(ckpt: Checkpoint, stored: Path) -> ParityReport:
    """The ensemble as trained (float32) against the file as stored (float16 weights), on real images."""
    batch, source = parity_images()
    return compare(TorchPredictor(ckpt.model), TorchPredictor(load_checkpoint(stored).model), batch,
                   TENSORRT_FP16_TOLERANCE, source)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", metavar="CHECKPOINT",
                   help="a training checkpoint (best.pt or last.pt); several make an ensemble")
    p.add_argument("--calibration-from", type=Path, nargs="+", action="append", default=[], metavar="RUN",
                   help="an ensemble member's fold runs (held-out predictions); once per checkpoint")
    p.add_argument("--output", type=Path, default=DEFAULT_MODEL)
    args = p.parse_args(argv)
    try:
        checkpoints = [load_checkpoint(path) for path in args.checkpoints]
        if len(checkpoints) == 1 and args.calibration_from:
            raise DatasetError("--calibration-from calibrates an ensemble; a single checkpoint keeps its own")
        if len(checkpoints) == 1:
            ckpt = checkpoints[0]
            ckpt = Checkpoint(ckpt.model, ckpt.calibration, ckpt.epoch, ckpt.metrics)
        else:
            ckpt = ensemble(checkpoints, args.calibration_from)
    except (FileNotFoundError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    candidate = args.output.with_name(args.output.name + ".candidate")
    save_checkpoint(candidate, ckpt)
    if isinstance(ckpt.model, LesionEnsemble):
        try:
            print(f"float16 weights: {float16_parity(ckpt, candidate)}")
        except ParityError as err:
            candidate.unlink()
            print(f"error: float16 storage changes the outputs too much: {err}", file=sys.stderr)
            return 1
    candidate.replace(args.output)
    size = args.output.stat().st_size
    print(f"{args.output}: epoch {ckpt.epoch}, {len(args.checkpoints)} network(s), {size / 1e6:.1f} MB")
    if size > MAX_BYTES:
        print("error: over the repository's 25 MB limit for the default model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
