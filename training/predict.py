"""Run a model (PyTorch checkpoint or exported ONNX file) over samples and collect what metrics need.

Both predictors take the shared preprocessing's output and return probabilities named as in the
contract, so a checkpoint and its exported ONNX file are scored by exactly the same code.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from lesion import metrics
from lesion.calibration import Calibration
from lesion.contract import LABELS
from lesion.preprocessing import mask_to_original_size, resize_image, to_network_input
from training.data import DatasetError, Sample, crop_to_lesion, load_image, load_mask, resize_mask


class Predictor(Protocol):
    calibration: Calibration
    normalisation: str  # a key of lesion.preprocessing.NORMALISATIONS: how the network's input was made
    lesion_crop: float | None  # the margin of ground-truth lesion crops it learnt from (None: whole images)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """N x 3 x H x W float32 -> {"mask": N x 1 x H x W, "melanoma": N x 1, ...} probabilities."""
        ...


class TorchPredictor:
    def __init__(self, model: torch.nn.Module, calibration: Calibration | None = None, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.calibration = calibration or Calibration()
        self.normalisation = getattr(model, "input_normalisation", "per-image")
        self.lesion_crop = getattr(model, "lesion_crop", None)

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(batch).to(self.device)
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.device == "cuda"):
            out = self.model(x)
        return {k: torch.sigmoid(v.float()).cpu().numpy() for k, v in out.items()}


class OnnxPredictor:
    """An exported ONNX file; calibration from its metadata (key "calibration") when present."""

    normalisation = "per-image"  # the served contract; export refuses networks trained otherwise
    lesion_crop = None

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        meta = self.session.get_modelmeta().custom_metadata_map
        self.calibration = Calibration.from_json(meta["calibration"]) if "calibration" in meta else Calibration()

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, {"image": batch})
        return dict(zip(self.output_names, outputs))


class FlipTTA:
    """Test-time augmentation: the mean over the four flips (none, horizontal, vertical, both).

    Masks are flipped back before averaging. For measuring; the served pipeline does not use it.
    """

    FLIPS = ((), (-1,), (-2,), (-2, -1))

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.calibration = predictor.calibration
        self.normalisation = predictor.normalisation
        self.lesion_crop = predictor.lesion_crop

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = []
        for axes in self.FLIPS:
            out = self.predictor(np.ascontiguousarray(np.flip(batch, axes)) if axes else batch)
            if "mask" in out and axes:
                out["mask"] = np.flip(out["mask"], axes)
            outputs.append(out)
        return {key: np.mean([o[key] for o in outputs], axis=0) for key in outputs[0]}


def load_predictor(path: Path | None, device: str = "cpu") -> Predictor:
    """A checkpoint (.pt/.pth), an ONNX file (.onnx), or the shipped default model when None."""
    if path is not None and Path(path).suffix == ".onnx":
        return OnnxPredictor(Path(path))
    from training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    return TorchPredictor(ckpt.model, ckpt.calibration, device)


@dataclass
class Predictions:
    """Per-image results over a split: segmentation scores and raw label probabilities."""

    image_ids: list[str] = field(default_factory=list)
    jaccard: list[float] = field(default_factory=list)
    dice: list[float] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    probabilities: dict[str, list[float]] = field(default_factory=lambda: {label: [] for label in LABELS})

    def label_array(self) -> np.ndarray:
        return np.stack(self.labels) if self.labels else np.zeros((0, len(LABELS)))

    def probability_array(self, label: str) -> np.ndarray:
        return np.asarray(self.probabilities[label], dtype=np.float64)

    def subset(self, indices: np.ndarray) -> Predictions:
        """The predictions of these images (repeats allowed: bootstrap resampling)."""
        pick = lambda values: [values[i] for i in indices] if len(values) else []  # noqa: E731
        return Predictions(
            image_ids=pick(self.image_ids), jaccard=pick(self.jaccard), dice=pick(self.dice),
            labels=pick(self.labels), probabilities={k: pick(v) for k, v in self.probabilities.items()},
        )


def _batches(samples: Sequence[Sample], size: int) -> Iterator[Sequence[Sample]]:
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def _as_learnt(rgb: np.ndarray, sample: Sample, size: tuple[int, int], lesion_crop: float | None) -> np.ndarray:
    """The image as the network learnt to see it: whole, or its ground-truth lesion's square."""
    if lesion_crop is None:
        return rgb
    if sample.mask_path is None:
        raise DatasetError(f"{sample.image_id}: a network trained on lesion crops is scored on ground-truth "
                           "crops, and this split has no masks")
    return crop_to_lesion(resize_image(rgb), resize_mask(load_mask(sample, size)), lesion_crop)[0]


def predict_samples(
    predictor: Predictor, samples: Sequence[Sample], batch_size: int = 16, progress: bool = True
) -> Predictions:
    """Predict every sample; masks are scored at the ground truth's own (original) resolution."""
    result = Predictions()
    bar = tqdm(total=len(samples), desc="evaluating", unit="img", disable=not progress)
    for chunk in _batches(samples, batch_size):
        loaded = [load_image(s) for s in chunk]
        views = [_as_learnt(rgb, sample, size, predictor.lesion_crop) for sample, (rgb, size) in zip(chunk, loaded)]
        out = predictor(np.stack([to_network_input(rgb, predictor.normalisation) for rgb in views]))
        for i, (sample, (_, size)) in enumerate(zip(chunk, loaded)):
            result.image_ids.append(sample.image_id)
            result.labels.append(sample.labels)
            for label in LABELS:
                if label in out:
                    result.probabilities[label].append(float(out[label][i].ravel()[0]))
            if "mask" in out and sample.mask_path is not None:
                pred = mask_to_original_size(out["mask"][i, 0], size)
                truth = load_mask(sample, size)
                result.jaccard.append(metrics.jaccard(pred, truth))
                result.dice.append(metrics.dice(pred, truth))
        bar.update(len(chunk))
    bar.close()
    return result
