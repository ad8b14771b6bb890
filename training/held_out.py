"""Held-out predictions of fold runs: the one file that calibration, reports and the checks read.

A run trained with a held-out fold writes <run>/held_out_predictions.npz when it finishes: image_ids,
labels (N x 2), one raw probability array per label (tasks with a classifier) and the per-image
Jaccard (tasks with a mask), all of its best checkpoint; <run>/last-epoch/ holds the same file of its
last checkpoint, so that either can be passed wherever a run is read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lesion.contract import LABELS
from training.data import DatasetError

HELD_OUT_FILE = "held_out_predictions.npz"
LAST_EPOCH_DIR = "last-epoch"
JACCARD = "jaccard"


def write_held_out(run: Path, image_ids: list[str], labels: np.ndarray, probabilities: dict[str, np.ndarray],
                   jaccard: np.ndarray | None = None) -> Path:
    """<run>/held_out_predictions.npz: these held-out images' ids, labels (N x 2), raw probabilities, Jaccard."""
    run.mkdir(parents=True, exist_ok=True)
    np.savez(run / HELD_OUT_FILE, image_ids=np.array(image_ids), labels=labels, **probabilities,
             jaccard=np.empty(0) if jaccard is None else jaccard)
    return run / HELD_OUT_FILE


def _load(runs: list[Path], require_labels: bool = True) -> list[dict[str, np.ndarray]]:
    missing = [str(run / HELD_OUT_FILE) for run in runs if not (run / HELD_OUT_FILE).exists()]
    if missing:
        raise DatasetError(f"no held-out predictions: {', '.join(missing)} missing "
                           "(train those runs with a held-out fold first)")
    loaded = [dict(np.load(run / HELD_OUT_FILE)) for run in runs]
    if require_labels and not all(_holds(p, label) for p in loaded for label in LABELS):
        raise DatasetError("a run has no label predictions (segmentation-only?)")
    return loaded


def _load_folds(runs: list[Path]) -> list[dict[str, np.ndarray]]:
    loaded = _load(runs)
    ids = np.concatenate([p["image_ids"] for p in loaded])
    if len(set(ids.tolist())) != len(ids):
        raise DatasetError("these runs share held-out images; give runs of different folds")
    return loaded


def read_folds(runs: list[Path]) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Each run's labels and raw probabilities; the runs must hold out different images (other folds)."""
    return [(p["labels"], {label: p[label] for label in LABELS}) for p in _load_folds(runs)]


def pool(folds: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Folds' (labels, probabilities) concatenated into one (labels, probabilities)."""
    return (np.concatenate([labels for labels, _ in folds]),
            {label: np.concatenate([p[label] for _, p in folds]) for label in LABELS})


def read_out_of_fold(runs: list[Path]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels and raw probabilities of these runs' held-out images, concatenated (each image once)."""
    return pool(read_folds(runs))


def read_same_images(runs: list[Path], require_labels: bool = True) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Labels and, per run, its per-image predictions for runs that held out the same images (one fold).

    Each run's dict holds a raw probability per label where it has a classifier and the per-image Jaccard
    (key JACCARD) where it has a mask; without require_labels a segmentation-only run is accepted.
    """
    loaded = _load(runs, require_labels)
    if any(not np.array_equal(loaded[0]["image_ids"], p["image_ids"]) for p in loaded[1:]):
        raise DatasetError(f"{', '.join(map(str, runs))} did not hold out the same images")
    return loaded[0]["labels"], [_predictions(p) for p in loaded]


def _predictions(held_out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: held_out[key] for key in (*LABELS, JACCARD) if _holds(held_out, key)}


def _holds(held_out: dict[str, np.ndarray], key: str) -> bool:
    """Whether a run predicted this per image (older runs wrote empty arrays for what their task lacks)."""
    return held_out.get(key, np.empty(0)).size > 0


def read_out_of_fold_by_image(runs: list[Path], ensemble_with: list[list[Path]] = ()) -> dict[str, np.ndarray]:
    """Image id -> raw probabilities (in LABELS order) from these runs' held-out images (other folds).

    With ensemble_with (other networks' fold runs over the same images) the probabilities are the mean
    of the networks', as a LesionEnsemble serves them.
    """
    networks = [_by_image(group) for group in (runs, *ensemble_with)]
    if any(n.keys() != networks[0].keys() for n in networks[1:]):
        raise DatasetError("the ensemble's networks did not hold out the same images")
    return {image_id: np.mean([n[image_id] for n in networks], axis=0) for image_id in networks[0]}


def _by_image(runs: list[Path]) -> dict[str, np.ndarray]:
    return {image_id: np.array([p[label][i] for label in LABELS])
            for p in _load_folds(runs) for i, image_id in enumerate(p["image_ids"].tolist())}
