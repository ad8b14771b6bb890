"""Score a model on an ISIC 2017 split with the challenge's metrics.

    python -m training.evaluate --data ../shared/data/isic2017-256 --split validation --json
    python -m training.evaluate --model runs/x/best.pt --fold 0 --folds-file runs/x/folds.json
    python -m training.evaluate --model model_repository/lesion_net/1/model.onnx

Without --model the shipped default model is scored. A checkpoint remembers which fold it held out;
scored on training images it was trained on, the command says so (those numbers are in-sample).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from lesion import metrics
from lesion.calibration import Calibration
from lesion.contract import LABELS
from training.data import DatasetError, read_split
from training.predict import FlipTTA, Predictions, load_predictor, predict_samples

KEYS = (
    "n_images", "jaccard", "threshold_jaccard", "dice", "auc_melanoma", "auc_seborrheic_keratosis",
    "auc_mean", "sensitivity_melanoma", "specificity_melanoma",
)


def _mean(values: list[float] | np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def compute_metrics(pred: Predictions, calibration: Calibration) -> dict[str, float | int | None]:
    """The JSON report: exactly KEYS; a key whose inputs are missing (no masks, one class) is None."""
    labels = pred.label_array()
    result: dict[str, float | int | None] = {key: None for key in KEYS}
    result["n_images"] = len(pred.image_ids)
    result["jaccard"] = _mean(pred.jaccard)
    result["threshold_jaccard"] = _mean(metrics.threshold_jaccard(pred.jaccard)) if pred.jaccard else None
    result["dice"] = _mean(pred.dice)
    aucs = []
    for i, label in enumerate(LABELS):
        if pred.probabilities[label]:
            result[f"auc_{label}"] = value = metrics.auc(labels[:, i], pred.probability_array(label))
            aucs.append(value)
    if aucs and None not in aucs:
        result["auc_mean"] = float(np.mean(aucs))
    if pred.probabilities[LABELS[0]]:
        cal = calibration.labels[LABELS[0]]
        probability = cal.probability(pred.probability_array(LABELS[0]))
        sens, spec = metrics.sensitivity_specificity(labels[:, 0], probability, cal.threshold)
        result["sensitivity_melanoma"], result["specificity_melanoma"] = sens, spec
    return result


def bootstrap_intervals(
    pred: Predictions, calibration: Calibration, rounds: int, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of every metric over `rounds` resamplings of the images."""
    rng = np.random.default_rng(seed)
    n = len(pred.image_ids)
    draws = [compute_metrics(pred.subset(rng.integers(0, n, n)), calibration) for _ in range(rounds)]
    intervals = {}
    for key in KEYS[1:]:
        values = [d[key] for d in draws if d[key] is not None]
        if values:
            intervals[key] = (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
    return intervals


def in_sample_warning(model: Path | None, split: str, fold: int | None) -> str | None:
    """Why these numbers are not held-out, when the checkpoint says it trained on some of these images."""
    if split != "training" or (model is not None and Path(model).suffix == ".onnx"):
        return None
    from training.checkpoint import load_checkpoint

    held_out = load_checkpoint(model).metrics.get("held_out_fold")
    if held_out is None or held_out == fold:
        return None
    trained_on = "all training images" if held_out == -1 else f"every fold but fold {held_out}"
    return f"warning: this model was trained on {trained_on}; these numbers are in-sample, not held-out"


def format_table(result: dict[str, float | int | None], intervals: dict[str, tuple[float, float]] | None = None) -> str:
    intervals = intervals or {}
    lines = [f"{'metric':<28}{'value':>10}  {'95% bootstrap interval' if intervals else ''}", "-" * (64 if intervals else 38)]
    for key in KEYS:
        value = result[key]
        text = "n/a" if value is None else f"{value:d}" if isinstance(value, int) else f"{value:.4f}"
        low_high = f"  [{intervals[key][0]:.4f}, {intervals[key][1]:.4f}]" if key in intervals else ""
        lines.append(f"{key:<28}{text:>10}{low_high}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"), help="data root (ISIC 2017 layout)")
    p.add_argument("--split", default="validation", help="training, validation, test, or a folder prefix")
    p.add_argument("--model", type=Path, default=None, help="checkpoint (.pt) or ONNX file; default: shipped model")
    p.add_argument("--fold", type=int, default=None, help="score only this held-out fold (needs --folds-file)")
    p.add_argument("--folds-file", type=Path, default=None, help="fold assignment written by training.train")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="with the table: 95%% intervals from N bootstrap resamplings of the images")
    p.add_argument("--device", default="cpu", help="cpu or cuda (checkpoints only)")
    p.add_argument("--tta", action="store_true", help="average over the four flips (4x the compute)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        samples = read_split(args.data, args.split)
        if args.fold is not None:
            if args.folds_file is None:
                raise DatasetError("--fold needs --folds-file")
            folds = json.loads(args.folds_file.read_text())
            samples = [s for s in samples if folds.get(s.image_id) == args.fold]
        samples = samples[: args.limit] if args.limit else samples
        predictor = load_predictor(args.model, args.device)
        predictor = FlipTTA(predictor) if args.tta else predictor
    except (DatasetError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    warning = in_sample_warning(args.model, args.split, args.fold)
    if warning:
        print(warning, file=sys.stderr)
    pred = predict_samples(predictor, samples, args.batch_size)
    result = compute_metrics(pred, predictor.calibration)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
    else:
        intervals = bootstrap_intervals(pred, predictor.calibration, args.bootstrap) if args.bootstrap else None
        print(format_table(result, intervals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
