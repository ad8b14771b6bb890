"""Train the multi-task network (or a single-task baseline) on ISIC 2017.

    python -m training.train --data ../shared/data/isic2017-256 --output runs/fold0 --fold 0
    python -m training.train --output runs/fold0 --resume          # carry on from runs/fold0/last.pt
    python -m training.train --fold -1 --output runs/all          # all 2000 images, no held-out fold

Writes to --output: last.pt (every epoch, resumable), best.pt (best held-out score), log.csv (one row
per epoch), args.json, and with a held-out fold its predictions (held_out_predictions.npz, of best.pt; the
same file of last.pt in last-epoch/, which the checks take as a run of its own). The
calibration (Platt scaling, operating thresholds) is fitted on out-of-fold predictions and stored in both
checkpoints: those of --calibration-from runs when given (how an all-data model gets calibrated on
cross-validation), else the run's own held-out fold.

    python -m training.train --fold -1 --output runs/all --calibration-from runs/fold0 runs/fold1

With --ema-decay the run delivers an exponential moving average of the weights (updated after every
step): it is what is scored, selected and saved as the model; the optimised weights' held-out metrics
are logged beside it as raw_* columns, so one run compares the two on the same fold.

With --eval-every N the held-out fold is scored on the first epoch, every Nth and the last only (the other
rows leave its columns empty and score 0): on the GPU, where an epoch takes seconds, scoring 400 images
after every epoch is up to a third of a run. The best checkpoint is then the best of the scored epochs.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from lesion.calibration import Calibration, fit_label_calibration
from lesion.contract import LABELS
from lesion.preprocessing import NORMALISATIONS
from training.augment import Augment
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.data import DatasetError, LesionDataset, Sample, load_or_make_folds, read_split
from training.encoders import ENCODERS
from training.evaluate import compute_metrics
from training.held_out import LAST_EPOCH_DIR, read_out_of_fold, write_held_out
from training.losses import FOCAL_GAMMA, LABEL_LOSSES, MultiTaskLoss, label_class_weight, label_pos_weight
from training.mixup import cutmix, mixup
from training.models import LABEL_HEADS, POOLINGS, TASKS, LesionNet, ModelConfig
from training.predict import TorchPredictor, predict_samples

MELANOMA_TARGET_SENSITIVITY = 0.90
PRECISIONS = ("auto", "bf16", "fp32")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"), help="data root (ISIC 2017 layout)")
    p.add_argument("--output", type=Path, required=True, help="run directory")
    p.add_argument("--encoder", choices=ENCODERS, default="efficientnet_lite0")
    p.add_argument("--task", choices=TASKS, default="multi", help="multi-task, segmentation only, classification only")
    p.add_argument("--cls-pooling", choices=POOLINGS, default="global",
                   help="classifier input: global average, or also the average inside the predicted lesion (multi-task)")
    p.add_argument("--input-scale", type=float, default=1.0,
                   help="classification-only: enlarge the 256 px input by this factor inside the network")
    p.add_argument("--input-normalisation", choices=tuple(NORMALISATIONS), default="per-image",
                   help="per-image: each image's channels to zero mean, unit variance (the served contract); "
                        "fixed: (pixel - 127) / 128, keeping absolute colour (an experiment: export refuses it)")
    p.add_argument("--label-head", choices=LABEL_HEADS, default="independent",
                   help="independent: one binary head per label; exclusive: one softmax over the labels and "
                        "'neither', for labels no image holds together (ISIC 2017's diagnoses)")
    p.add_argument("--label-loss", choices=LABEL_LOSSES, default="bce",
                   help="bce: class-weighted binary cross-entropy per label; focal: the same, each term scaled by "
                        f"(1 - p_true) ** {FOCAL_GAMMA} to dwell on hard images; softmax: class-weighted "
                        "cross-entropy over the labels and 'neither' (needs --label-head exclusive)")
    p.add_argument("--lesion-crop", type=float, default=None, metavar="MARGIN",
                   help="classification only: train and score on the square around the ground-truth lesion, widened "
                        "by MARGIN times its longer side on each side (e.g. 0.25); an upper bound for lesion-centred "
                        "crops, as serving has no ground truth")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--augment-strength", type=float, default=1.0, metavar="S",
                   help="scale of the random affine (zoom, shift) and colour jitter; flips and rotations stay")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="blend each batch's images, masks and labels pairwise, weight ~ Beta(ALPHA, ALPHA) "
                        "(default 0: off)")
    p.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                   help="paste a box of another image of the batch over each image, mask included, box area "
                        "share 1 - lam with lam ~ Beta(ALPHA, ALPHA), labels blended by area (default 0: off)")
    p.add_argument("--seg-weight", type=float, default=1.0)
    p.add_argument("--cls-weight", type=float, default=1.0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0, help="held-out fold in 0..folds-1; -1 trains on all data")
    p.add_argument("--folds-file", type=Path, default=None,
                   help="fold assignment to reuse; default: made from --seed (stratified) and saved as <output>/folds.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images (smoke tests)")
    p.add_argument("--no-pretrained", action="store_true", help="do not load ImageNet weights")
    p.add_argument("--workers", type=int, default=None, help="data loader workers (default: 0 on CPU, 6 on GPU)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="training arithmetic: bfloat16 autocast or float32; auto is bf16 on CUDA, fp32 on the CPU "
                        "(on AVX512-BF16 CPUs about 2x faster for the U-Net and enlarged inputs, on CPUs without it several "
                        "times slower: python -m benchmarks.training_step)")
    p.add_argument("--resume", action="store_true", help="continue from <output>/last.pt")
    p.add_argument("--eval-every", type=int, default=1, metavar="N",
                   help="score the held-out fold on the first, every Nth and the last epoch only (default: every epoch)")
    p.add_argument("--ema-decay", type=float, default=None, metavar="DECAY",
                   help="deliver the moving average of the weights with this decay per step (e.g. 0.998)")
    p.add_argument("--calibration-from", type=Path, nargs="+", default=None, metavar="RUN",
                   help="fit the calibration on these runs' held-out predictions (cross-validation folds)")
    args = p.parse_args(argv)
    if min(args.mixup, args.cutmix, args.augment_strength) < 0:
        p.error("--mixup, --cutmix and --augment-strength need values of at least 0")
    if args.mixup and args.cutmix:
        p.error("choose one of --mixup and --cutmix")
    if args.eval_every < 1:
        p.error("--eval-every must be at least 1")
    if args.label_loss == "softmax" and args.label_head != "exclusive":
        p.error("--label-loss softmax needs --label-head exclusive")
    if args.lesion_crop is not None and (args.task != "cls" or args.lesion_crop < 0):
        p.error("--lesion-crop needs --task cls and a margin of at least 0")
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_samples(args: argparse.Namespace):
    samples = read_split(args.data, "training")[: args.limit]
    folds = load_or_make_folds(args.folds_file or args.output / "folds.json", samples, args.folds, args.seed)
    train = [s for s in samples if folds[s.image_id] != args.fold]
    held_out = [s for s in samples if folds[s.image_id] == args.fold]
    return train, held_out


def check_exclusive(samples: list[Sample]) -> None:
    """An exclusive label head cannot learn an image that holds two labels: refuse such data up front."""
    both = [s.image_id for s in samples if s.labels.sum() > 1]
    if both:
        raise DatasetError(f"--label-head exclusive needs at most one label per image; {len(both)} hold more, "
                           f"e.g. {', '.join(both[:3])}")


def use_bf16(precision: str, device: str) -> bool:
    return precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda")


def cpu_has_native_bf16() -> bool:
    """Without AVX512-BF16 or AMX, bfloat16 is emulated: 7-10x slower than float32 (docs/benchmarks.md run 5)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def emulated_bf16_warning(bf16: bool, device: str) -> str | None:
    if not bf16 or torch.device(device).type != "cpu" or cpu_has_native_bf16():
        return None
    return ("warning: this CPU has no native bfloat16 (no AVX512-BF16 or AMX), so --precision bf16 is emulated and "
            "several times slower than float32 (python -m benchmarks.training_step); use --precision fp32 here")


def batch_mix(args: argparse.Namespace) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None:
    """The blend of pairs of training images that --mixup or --cutmix asks for, or None."""
    if args.cutmix:
        return partial(cutmix, alpha=args.cutmix)
    return partial(mixup, alpha=args.mixup) if args.mixup else None


def train_one_epoch(model, loader, loss_fn, optimizer, scheduler, device: str, epoch: int,
                    ema: AveragedModel | None = None, bf16: bool = False,
                    mix: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
                    ) -> dict[str, float]:
    model.train()
    totals: dict[str, float] = {}
    bar = tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False)
    for batch in bar:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        batch = mix(batch) if mix else batch
        image = batch["image"].contiguous(memory_format=torch.channels_last)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            outputs = model(image)
        losses = loss_fn(outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + value.item() * len(image)
        bar.set_postfix(loss=f"{losses['loss'].item():.3f}")
    return {f"train_{k}": v / len(loader.dataset) for k, v in totals.items()}


def held_out_metrics(model, held_out, device: str) -> dict:
    return compute_metrics(predict_samples(TorchPredictor(model, device=device), held_out, progress=False),
                           Calibration())


def fit_calibration(labels: np.ndarray, probabilities: dict[str, np.ndarray]) -> Calibration:
    targets = {LABELS[0]: MELANOMA_TARGET_SENSITIVITY, LABELS[1]: None}
    return Calibration({
        label: fit_label_calibration(labels[:, i], probabilities[label], target_sensitivity=targets[label])
        for i, label in enumerate(LABELS)
    })


def score(metrics: dict) -> float:
    """Model selection: mean of the Jaccard and the mean AUC, whichever the task has."""
    values = [v for v in (metrics.get("jaccard"), metrics.get("auc_mean")) if v is not None]
    return float(np.mean(values)) if values else 0.0


def is_scored_epoch(epoch: int, epochs: int, every: int) -> bool:
    return epoch == 1 or epoch % every == 0 or epoch == epochs


def append_log(path: Path, row: dict) -> None:
    """One row per epoch under the file's existing header: rows of unscored epochs leave its columns empty."""
    fields = list(row)
    if path.exists():
        with path.open(newline="") as f:
            fields = next(csv.reader(f), fields)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed_everything(args.seed)
    device = args.device
    torch.backends.cudnn.benchmark = device == "cuda"
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        train_samples, held_out = split_samples(args)
        if args.label_head == "exclusive":
            check_exclusive(train_samples)
        if args.calibration_from:
            read_out_of_fold(args.calibration_from)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    (args.output / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=2))
    print(f"training on {len(train_samples)} images, holding out {len(held_out)} (fold {args.fold}), device {device}")
    if warning := emulated_bf16_warning(use_bf16(args.precision, device), device):
        print(warning, file=sys.stderr)

    workers = args.workers if args.workers is not None else (6 if device == "cuda" else 0)
    dataset = LesionDataset(train_samples, augment=Augment(args.augment_strength), progress=True,
                            normalisation=args.input_normalisation, lesion_crop=args.lesion_crop)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size,
                        num_workers=workers, pin_memory=device == "cuda", persistent_workers=workers > 0)
    config = ModelConfig(encoder=args.encoder, task=args.task, pretrained=not args.no_pretrained,
                         cls_pooling=args.cls_pooling, input_scale=args.input_scale,
                         input_normalisation=args.input_normalisation, label_head=args.label_head,
                         lesion_crop=args.lesion_crop)
    model = LesionNet(config).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    labels = torch.from_numpy(np.stack([s.labels for s in train_samples]))
    class_weight = label_class_weight(labels) if args.label_loss == "softmax" else None
    focal_gamma = FOCAL_GAMMA if args.label_loss == "focal" else 0.0
    loss_fn = MultiTaskLoss(label_pos_weight(labels), args.seg_weight, args.cls_weight, class_weight, focal_gamma)

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True) \
        if args.ema_decay else None
    delivered = ema.module if ema else model

    start_epoch, best = 1, -1.0
    if args.resume and (args.output / "last.pt").exists():
        ckpt = load_checkpoint(args.output / "last.pt", map_location=device)
        model.load_state_dict(ckpt.training_weights or ckpt.model.state_dict())
        if ema:
            ema.module.load_state_dict(ckpt.model.state_dict())
            ema.n_averaged.fill_(1)  # else the first update would copy the weights instead of averaging
        optimizer.load_state_dict(ckpt.optimizer_state)
        start_epoch, best = ckpt.epoch + 1, float(ckpt.metrics.get("best_score", -1.0))
        print(f"resumed from epoch {ckpt.epoch}")
    # Rebuilt rather than restored, so a resumed run may also extend --epochs; it continues at the same step.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=len(loader), pct_start=0.15,
                                                    last_epoch=(start_epoch - 1) * len(loader) - 1)

    mix = batch_mix(args)
    for epoch in range(start_epoch, args.epochs + 1):
        started = time.time()
        row = {"epoch": epoch, **train_one_epoch(model, loader, loss_fn, optimizer, scheduler, device, epoch, ema,
                                                      use_bf16(args.precision, device), mix)}
        row["train_seconds"] = round(time.time() - started, 1)
        scored = held_out and is_scored_epoch(epoch, args.epochs, args.eval_every)
        if scored:
            row.update(held_out_metrics(delivered, held_out, device))
        if scored and ema:
            row.update({f"raw_{k}": v for k, v in held_out_metrics(model, held_out, device).items() if k != "n_images"})
        row["score"] = score(row)
        improved = scored and row["score"] > best
        best = max(best, row["score"]) if held_out else best
        append_log(args.output / "log.csv", row)
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if v is not None))
        metrics = {**row, "best_score": best, "held_out_fold": args.fold}
        if improved or not held_out:
            save_checkpoint(args.output / "best.pt", Checkpoint(delivered, epoch=epoch, metrics=metrics))
        save_checkpoint(args.output / "last.pt", Checkpoint(
            delivered, epoch=epoch, metrics=metrics, optimizer_state=optimizer.state_dict(),
            training_weights=model.state_dict() if ema else None))
        model.to(memory_format=torch.channels_last)

    if held_out:
        save_held_out_predictions(args.output, held_out, device)
    sources = args.calibration_from or ([args.output] if held_out else [])
    if sources and args.task != "seg":
        labels, probabilities = read_out_of_fold(sources)
        store_calibration(args.output, fit_calibration(labels, probabilities), device)
        print(f"calibration fitted on {len(labels)} out-of-fold predictions of {', '.join(map(str, sources))} "
              f"-> {args.output / 'calibration.json'}")
    return 0


def save_held_out_predictions(output: Path, held_out, device: str) -> None:
    """The best and the last epoch's held-out predictions, each where the checks read a run's.

    The best epoch's (in <output>) feed reports and calibration. It is picked on the very images it is
    scored on, so a comparison also reads the last epoch's, in <output>/last-epoch, a run of its own.
    """
    for checkpoint, target in (("best.pt", output), ("last.pt", output / LAST_EPOCH_DIR)):
        target.mkdir(exist_ok=True)
        model = load_checkpoint(output / checkpoint, map_location=device).model
        write_held_out_predictions(target, model, held_out, device)


def write_held_out_predictions(output: Path, model, held_out, device: str = "cpu") -> None:
    pred = predict_samples(TorchPredictor(model, device=device), held_out, progress=False)
    probabilities = {label: pred.probability_array(label) for label in LABELS if pred.probabilities[label]}
    write_held_out(output, pred.image_ids, pred.label_array(), probabilities, np.array(pred.jaccard))


def store_calibration(output: Path, calibration: Calibration, device: str) -> None:
    (output / "calibration.json").write_text(calibration.to_json() + "\n")
    for name in ("best.pt", "last.pt"):
        ckpt = load_checkpoint(output / name, map_location=device)
        ckpt.calibration = calibration
        save_checkpoint(output / name, ckpt)

if __name__ == "__main__":
    sys.exit(main())
