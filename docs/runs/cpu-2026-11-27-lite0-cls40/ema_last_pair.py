"""Held-out predictions of an EMA run's last epoch, twice: the moving average and the optimised weights.

    python docs/runs/cpu-2026-11-27-lite0-cls40/ema_last_pair.py RUN FOLD OUTROOT   -> OUTROOT/{ema,raw}/foldFOLD/held_out_predictions.npz
"""
import copy
import sys
from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.checkpoint import load_checkpoint
from training.data import load_or_make_folds, read_split
from training.held_out import HELD_OUT_FILE
from training.predict import TorchPredictor, predict_samples

run, fold, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
samples = read_split(Path("../shared/data/isic2017-256"), "training")
folds = load_or_make_folds(Path("splits/isic2017_training_5fold_seed0.json"), samples, 5, 0)
held_out = [s for s in samples if folds[s.image_id] == fold]
last = load_checkpoint(run / "last.pt")
raw = copy.deepcopy(last.model)
raw.load_state_dict(last.training_weights)
for name, model in (("ema", last.model), ("raw", raw.eval())):
    pred = predict_samples(TorchPredictor(model), held_out, progress=False)
    target = out / name / f"fold{fold}"
    target.mkdir(parents=True, exist_ok=True)
    np.savez(target / HELD_OUT_FILE, image_ids=np.array(pred.image_ids), labels=pred.label_array(),
             **{label: pred.probability_array(label) for label in LABELS}, jaccard=np.array(pred.jaccard))
    print(name, target)
