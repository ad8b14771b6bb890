"""Probe for experiment 32: score a --lesion-crop classifier on crops cut with a *predicted* mask.

The run scores itself on ground-truth crops (an upper bound); serving would cut with a segmenting network's mask.
Writes the held-out predictions file that training.compare_runs and training.ensemble_check read:

    python docs/runs/cpu-2026-11-29-lesion-crop/predicted_crop_probe.py \
        --masks-from runs/cpu_lesion_pooling/efficientnet_lite0-multi-lesion/fold0/best.pt \
        --classifier runs/cpu_lesion_crop/efficientnet_lite0-cls/fold0/best.pt \
        --output docs/runs/cpu-2026-11-29-lesion-crop/efficientnet_lite0-cls-crop-predicted/fold0

Both checkpoints must have held out the same fold (--fold); the masks' network never saw it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from lesion.preprocessing import resize_image, to_network_input
from training.checkpoint import load_checkpoint
from training.data import crop_to_lesion, load_image, read_split
from training.held_out import HELD_OUT_FILE
from training.predict import TorchPredictor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--masks-from", type=Path, required=True, help="a segmenting checkpoint that held out --fold")
    p.add_argument("--classifier", type=Path, required=True, help="a --lesion-crop checkpoint that held out --fold")
    p.add_argument("--output", type=Path, required=True, help="run-like folder for held_out_predictions.npz")
    p.add_argument("--data", type=Path, default=Path("../shared/data/isic2017-256"))
    p.add_argument("--folds-file", type=Path, default=Path("splits/isic2017_training_5fold_seed0.json"))
    p.add_argument("--fold", type=int, default=0)
    args = p.parse_args()
    folds = json.loads(args.folds_file.read_text())
    samples = [s for s in read_split(args.data) if folds[s.image_id] == args.fold]
    segmenter, classifier = (TorchPredictor(load_checkpoint(path).model) for path in (args.masks_from, args.classifier))
    probabilities = {label: [] for label in LABELS}
    for start in range(0, len(samples), 16):
        images = [resize_image(load_image(s)[0]) for s in samples[start : start + 16]]
        mask_probability = segmenter(np.stack([to_network_input(rgb) for rgb in images]))["mask"][:, 0]
        masks = (mask_probability > 0.5).astype(np.uint8) * 255
        crops = [crop_to_lesion(rgb, mask, classifier.lesion_crop)[0] for rgb, mask in zip(images, masks)]
        out = classifier(np.stack([to_network_input(crop) for crop in crops]))
        for label in LABELS:
            probabilities[label].extend(out[label].ravel().tolist())
    args.output.mkdir(parents=True, exist_ok=True)
    np.savez(args.output / HELD_OUT_FILE, image_ids=np.array([s.image_id for s in samples]),
             labels=np.stack([s.labels for s in samples]), **{k: np.array(v) for k, v in probabilities.items()},
             jaccard=np.zeros(len(samples)))
    print(f"{len(samples)} held-out images scored on predicted-mask crops -> {args.output / HELD_OUT_FILE}")


if __name__ == "__main__":
    main()
