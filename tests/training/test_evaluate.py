import json

import pytest

from lesion.calibration import Calibration, LabelCalibration
from training.checkpoint import Checkpoint, save_checkpoint
from training.evaluate import KEYS, main as evaluate_main
from training.models import LesionNet, ModelConfig


@pytest.fixture(scope="module")
def checkpoint_and_onnx(tmp_path_factory):
    """An ImageNet-initialised network as a checkpoint and as ONNX, carrying a non-trivial calibration."""
    from export.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("model")
    model = LesionNet(ModelConfig()).eval()
    calibration = Calibration({"melanoma": LabelCalibration(1.2, 0.3, 0.45),
                               "seborrheic_keratosis": LabelCalibration()})
    save_checkpoint(root / "model.pt", Checkpoint(model, calibration))
    export_onnx(model, root / "model.onnx", metadata={"calibration": calibration.to_json()})
    return root / "model.pt", root / "model.onnx"


def run_json(capsys, *args) -> dict:
    assert evaluate_main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_checkpoint_and_onnx_give_the_same_metrics(small_isic_copy, checkpoint_and_onnx, capsys):
    pt, onnx = checkpoint_and_onnx
    a = run_json(capsys, "--data", str(small_isic_copy), "--split", "training", "--model", str(pt))
    b = run_json(capsys, "--data", str(small_isic_copy), "--split", "training", "--model", str(onnx))
    assert tuple(a) == KEYS and tuple(b) == KEYS
    assert a["n_images"] == b["n_images"] == 24
    for key in KEYS[1:]:
        assert a[key] == pytest.approx(b[key], abs=2e-3), key
    assert 0 <= a["jaccard"] <= 1 and 0 <= a["auc_mean"] <= 1


def test_split_without_masks_gives_null_segmentation_keys(tmp_path, small_isic_copy, checkpoint_and_onnx, capsys):
    import shutil

    root = tmp_path / "nomask"
    shutil.copytree(small_isic_copy, root)
    shutil.rmtree(root / "ISIC-2017_Training_Part1_GroundTruth")
    out = run_json(capsys, "--data", str(root), "--split", "training", "--model", str(checkpoint_and_onnx[1]))
    assert out["jaccard"] is None and out["threshold_jaccard"] is None and out["dice"] is None
    assert out["auc_melanoma"] is not None


def test_readable_table_and_clear_errors(small_isic_copy, checkpoint_and_onnx, tmp_path, capsys):
    assert evaluate_main(["--data", str(small_isic_copy), "--split", "training", "--limit", "12",
                          "--model", str(checkpoint_and_onnx[0]), "--bootstrap", "20"]) == 0
    table = capsys.readouterr().out
    assert "jaccard" in table and "auc_melanoma" in table
    jaccard_row = next(line for line in table.splitlines() if line.startswith("jaccard "))
    value, low, high = (float(x) for x in jaccard_row.replace("[", " ").replace("]", " ").replace(",", " ").split()[1:])
    assert low <= value <= high
    assert evaluate_main(["--data", str(tmp_path), "--split", "validation"]) == 2
    assert "image folder missing" in capsys.readouterr().err
    assert evaluate_main(["--data", str(small_isic_copy), "--split", "training",
                          "--model", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_flip_tta_averages_flipped_predictions_back_into_place():
    import numpy as np

    from lesion.calibration import Calibration
    from training.predict import FlipTTA

    class LeftHalf:
        """A stand-in network: mask = 1 on the left half of whatever it is given."""

        calibration = Calibration()
        normalisation = "per-image"
        lesion_crop = None

        def __call__(self, batch):
            mask = np.zeros((len(batch), 1, *batch.shape[-2:]), np.float32)
            mask[..., : batch.shape[-1] // 2] = 1.0
            return {"mask": mask, "melanoma": batch[:, :1, 0, :1].reshape(-1, 1)}

    batch = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    out = FlipTTA(LeftHalf())(batch)
    assert np.allclose(out["mask"][..., :4], 0.5) and np.allclose(out["mask"][..., 4:], 0.5)
    corners = [batch[:, 0, 0, 0], batch[:, 0, 0, -1], batch[:, 0, -1, 0], batch[:, 0, -1, -1]]
    assert np.allclose(out["melanoma"].ravel(), np.mean(corners, axis=0))


@pytest.mark.parametrize("held_out_fold, fold, warned", [(-1, None, True), (-1, 0, True), (2, 0, True), (2, 2, False)])
def test_scoring_images_the_model_trained_on_is_flagged(small_isic_copy, tmp_path, capsys, held_out_fold, fold, warned):
    folds_file = tmp_path / "folds.json"
    folds_file.write_text(json.dumps({path.stem: 0 for path in small_isic_copy.glob("*_Data/*.jpg")}))
    save_checkpoint(tmp_path / "m.pt", Checkpoint(LesionNet(ModelConfig(pretrained=False)), epoch=1,
                                                  metrics={"held_out_fold": held_out_fold}))
    args = ["--data", str(small_isic_copy), "--split", "training", "--model", str(tmp_path / "m.pt"), "--limit", "1"]
    args += ["--fold", str(fold), "--folds-file", str(folds_file)] if fold is not None else []
    assert evaluate_main(args) == 0
    assert ("in-sample, not held-out" in capsys.readouterr().err) == warned
