"""The shipped default model: loadable, small enough, calibrated, and really trained."""
import numpy as np

from lesion.contract import LABELS
from training.checkpoint import DEFAULT_MODEL, load_checkpoint
from training.models import LesionEnsemble
from training.predict import TorchPredictor, predict_samples


def test_default_model_is_committed_small_and_calibrated():
    assert DEFAULT_MODEL.stat().st_size < 25 * 1024 * 1024
    ckpt = load_checkpoint()
    assert isinstance(ckpt.model, LesionEnsemble), "the multi-task + classification-only ensemble (MODEL_CARD.md)"
    assert [member.config.task for member in ckpt.model.members] == ["multi", "cls"]
    assert ckpt.optimizer_state is None
    assert [m["held_out_fold"] for m in ckpt.metrics["members"]] == [-1, -1], "both trained on all 2000 images"
    assert ckpt.metrics["held_out_fold"] == -1
    for label in LABELS:
        assert "Platt" in ckpt.calibration.labels[label].description


def test_default_model_segments_real_lesions(isic_samples):
    """Real ISIC images: the shipped model finds the lesions (a trained model, not an untrained one).

    It was trained on all of them; held-out accuracy is the recipe's cross-validation (docs/results.md).
    """
    import json
    from pathlib import Path

    folds = json.loads((Path(__file__).resolve().parents[2] / "splits" / "isic2017_training_5fold_seed0.json").read_text())
    held_out = [s for s in isic_samples if folds[s.image_id] == 0][:24]
    ckpt = load_checkpoint()
    pred = predict_samples(TorchPredictor(ckpt.model, ckpt.calibration), held_out, progress=False)
    assert np.mean(pred.jaccard) > 0.7
