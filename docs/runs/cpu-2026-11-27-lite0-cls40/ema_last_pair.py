"""Held-out predictions of an EMA run's last epoch, twice: the moving average and the optimised weights.

    python docs/runs/cpu-2026-11-27-lite0-cls40/ema_last_pair.py RUN FOLD OUTROOT
        -> OUTROOT/{ema,raw}/foldFOLD/held_out_predictions.npz
"""
import copy
import sys
from pathlib import Path

from training.checkpoint import load_checkpoint
from training.data import load_or_make_folds, read_split
from training.train import write_held_out_predictions

run, fold, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
samples = read_split(Path("../shared/data/isic2017-256"), "training")
folds = load_or_make_folds(Path("splits/isic2017_training_5fold_seed0.json"), samples, 5, 0)
held_out = [s for s in samples if folds[s.image_id] == fold]
last = load_checkpoint(run / "last.pt")
raw = copy.deepcopy(last.model)
raw.load_state_dict(last.training_weights)
for name, model in (("ema", last.model), ("raw", raw.eval())):
    target = out / name / f"fold{fold}"
    target.mkdir(parents=True, exist_ok=True)
    write_held_out_predictions(target, model, held_out)
    print(name, target)
