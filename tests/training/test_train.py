import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lesion.calibration import Calibration
from lesion.contract import LABELS
from training.augment import Augment
from training.checkpoint import load_checkpoint
from training.data import DatasetError, LesionDataset, load_or_make_folds, read_split
from training.held_out import LAST_EPOCH_DIR, read_same_images
from training.losses import MultiTaskLoss, label_pos_weight
from training.models import LesionNet, ModelConfig
from training.predict import TorchPredictor, predict_samples
from training.train import main as train_main
from training.train import cpu_has_native_bf16, emulated_bf16_warning, train_one_epoch


def test_augmentation_keeps_mask_aligned():
    image = np.zeros((256, 256, 3), np.uint8)
    image[40:120, 150:230] = 255
    mask = (image[..., 0] > 0).astype(np.uint8) * 255
    augment = Augment(strength=0.0)  # geometry only: flips, 90-degree turns, rotations
    for seed in range(5):
        np.random.seed(seed)
        out_image, out_mask = augment(image, mask)
        agree = ((out_image[..., 0] > 127) == (out_mask > 127)).mean()
        assert agree > 0.99


def test_augment_strength_scales_the_colour_jitter():
    image = np.full((64, 64, 3), 128, np.uint8)
    mask = np.zeros((64, 64), np.uint8)

    def brightness_spread(strength: float) -> float:
        augment = Augment(strength)
        return float(np.std([augment(image, mask)[0].mean() for _ in range(200)]))

    assert brightness_spread(0.0) == 0.0
    assert brightness_spread(2.0) > 1.5 * brightness_spread(1.0) > 0.0


def test_a_few_optimisation_steps_reduce_the_loss(isic_samples):
    torch.manual_seed(0)
    samples = isic_samples[:8]
    batch = next(iter(DataLoader(LesionDataset(samples), batch_size=8)))
    model = LesionNet(ModelConfig())
    labels = torch.from_numpy(np.stack([s.labels for s in samples]))
    loss_fn = MultiTaskLoss(label_pos_weight(labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = loss_fn(model(batch["image"]), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("bf16", [False, True])
def test_precision_chooses_the_arithmetic_of_the_forward_pass(isic_samples, bf16):
    loader = DataLoader(LesionDataset(isic_samples[:4]), batch_size=4)
    model = LesionNet(ModelConfig(task="cls", pretrained=False))
    dtypes = []
    model.encoder.register_forward_hook(lambda module, args, out: dtypes.append(out[-1].dtype))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    labels = torch.from_numpy(np.stack([s.labels for s in isic_samples[:4]]))
    train_one_epoch(model, loader, MultiTaskLoss(label_pos_weight(labels)), optimizer, scheduler, "cpu", 1, bf16=bf16)
    assert dtypes == [torch.bfloat16 if bf16 else torch.float32]
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_training_cli_writes_resumable_checkpoints_and_log(small_isic_copy, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(small_isic_copy), "--output", str(out), "--epochs", "1", "--batch-size", "8",
            "--folds", "3", "--fold", "0", "--folds-file", str(tmp_path / "folds.json")]
    assert train_main(args) == 0
    assert (out / "best.pt").exists() and (out / "calibration.json").exists()
    assert load_checkpoint(out / "last.pt").epoch == 1
    args[args.index("--epochs") + 1] = "2"
    assert train_main(args + ["--resume"]) == 0
    rows = (out / "log.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,train_loss")
    assert load_checkpoint(out / "last.pt").epoch == 2


def test_eval_every_scores_the_first_every_nth_and_the_last_epoch_and_resumes_under_one_header(
        small_isic_copy, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(small_isic_copy), "--output", str(out), "--epochs", "2", "--batch-size", "8", "--folds", "3",
            "--fold", "0", "--folds-file", str(tmp_path / "folds.json"), "--task", "cls", "--eval-every", "4"]
    assert train_main(args) == 0
    args[args.index("--epochs") + 1] = "5"
    assert train_main(args + ["--resume"]) == 0
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["auc_melanoma"] != "" for r in rows] == [True, True, False, True, True]
    assert all(float(r["train_loss"]) > 0 for r in rows) and float(rows[2]["score"]) == 0
    assert load_checkpoint(out / "best.pt").epoch in (1, 2, 4, 5)


def test_a_fold_run_writes_its_best_and_its_last_epochs_held_out_predictions(small_isic_copy, tmp_path):
    out, folds_file = tmp_path / "run", tmp_path / "folds.json"
    args = ["--data", str(small_isic_copy), "--output", str(out), "--epochs", "3", "--batch-size", "8", "--folds", "3",
            "--fold", "0", "--folds-file", str(folds_file), "--task", "cls"]
    assert train_main(args) == 0
    samples = read_split(small_isic_copy)
    folds = load_or_make_folds(folds_file, samples, 3, 0)
    held_out = [s for s in samples if folds[s.image_id] == 0]
    _, written = read_same_images([out, out / LAST_EPOCH_DIR])
    for checkpoint, predictions in zip(("best.pt", "last.pt"), written):
        expected = predict_samples(TorchPredictor(load_checkpoint(out / checkpoint).model), held_out, progress=False)
        for label in LABELS:
            np.testing.assert_allclose(predictions[label], expected.probability_array(label), rtol=1e-5)


def test_a_bf16_run_of_an_enlarging_classifier_on_fixed_scaled_input_saves_both(small_isic_copy, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", str(small_isic_copy), "--output", str(out), "--epochs", "1", "--batch-size", "8", "--folds", "3",
            "--folds-file", str(tmp_path / "folds.json"), "--task", "cls", "--input-scale", "1.25", "--precision", "bf16",
            "--input-normalisation", "fixed"]
    assert train_main(args) == 0
    model = load_checkpoint(out / "best.pt").model
    assert model.config.input_scale == 1.25 and model.config.input_normalisation == "fixed"
    assert TorchPredictor(model).normalisation == "fixed"  # so its held-out fold is scored on the input it learnt
    assert next(model.parameters()).dtype == torch.float32
    assert ("--precision fp32" in capsys.readouterr().err) == (not cpu_has_native_bf16())


@pytest.mark.parametrize("bf16, device", [(False, "cpu"), (True, "cuda"), (True, "cuda:0")])
def test_only_bfloat16_on_the_cpu_can_be_emulated(bf16, device):
    assert emulated_bf16_warning(bf16, device) is None


def test_an_exclusive_label_head_trains_with_softmax_loss_and_refuses_an_image_with_two_labels(small_isic_copy, tmp_path):
    args = ["--output", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--folds", "3",
            "--folds-file", str(tmp_path / "folds.json"), "--task", "cls", "--label-head", "exclusive",
            "--label-loss", "softmax"]
    assert train_main(["--data", str(small_isic_copy), *args]) == 0
    assert load_checkpoint(tmp_path / "run" / "best.pt").model.config.label_head == "exclusive"
    assert json.loads((tmp_path / "run" / "args.json").read_text())["label_loss"] == "softmax"
    both = shutil.copytree(small_isic_copy, tmp_path / "both")
    labels = next(both.glob("*_Part3_GroundTruth.csv"))
    rows = labels.read_text().splitlines()
    image_id = rows[1].split(",")[0]
    labels.write_text("\n".join([rows[0], f"{image_id},1.0,1.0", *rows[2:]]) + "\n")
    args[1] = str(tmp_path / "refused")
    assert train_main(["--data", str(both), *args]) == 2
    assert not (tmp_path / "refused" / "last.pt").exists()


def test_a_lesion_cropped_classifier_is_scored_on_ground_truth_crops_and_needs_masks(small_isic_copy, tmp_path):
    args = ["--data", str(small_isic_copy), "--output", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8",
            "--folds", "3", "--folds-file", str(tmp_path / "folds.json"), "--task", "cls", "--lesion-crop", "0.25"]
    assert train_main(args) == 0
    model = load_checkpoint(tmp_path / "run" / "best.pt").model
    predictor = TorchPredictor(model)
    assert predictor.lesion_crop == 0.25
    uncropped = LesionNet(dataclasses.replace(model.config, lesion_crop=None, pretrained=False))
    uncropped.load_state_dict(model.state_dict())
    samples = read_split(small_isic_copy)[:2]
    whole = predict_samples(TorchPredictor(uncropped), samples, progress=False)
    cropped = predict_samples(predictor, samples, progress=False)
    assert whole.probabilities["melanoma"] != cropped.probabilities["melanoma"]
    no_masks = [dataclasses.replace(s, mask_path=None) for s in samples]
    with pytest.raises(DatasetError, match="scored on ground-truth crops"):
        predict_samples(predictor, no_masks, progress=False)


def test_lesion_crops_need_the_classification_only_task(capsys):
    with pytest.raises(SystemExit):
        train_main(["--output", "unused", "--lesion-crop", "0.25"])
    assert "--lesion-crop needs --task cls" in capsys.readouterr().err


def test_softmax_label_loss_needs_the_exclusive_head(capsys):
    with pytest.raises(SystemExit):
        train_main(["--output", "unused", "--label-loss", "softmax"])
    assert "--label-loss softmax needs --label-head exclusive" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--mixup", "--cutmix", "--augment-strength"])
def test_negative_regularisation_strengths_are_refused(option, capsys):
    with pytest.raises(SystemExit):
        train_main(["--output", "unused", option, "-0.1"])
    assert "--mixup, --cutmix and --augment-strength need values of at least 0" in capsys.readouterr().err


def test_mixup_and_cutmix_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        train_main(["--output", "unused", "--mixup", "0.4", "--cutmix", "1"])
    assert "choose one of --mixup and --cutmix" in capsys.readouterr().err


def test_all_data_model_takes_its_calibration_from_cross_validation_runs(small_isic_copy, tmp_path):
    folds = ["--folds", "3", "--folds-file", str(tmp_path / "folds.json"), "--epochs", "1", "--batch-size", "8"]
    cv_run, all_data = tmp_path / "fold0", tmp_path / "all"
    assert train_main(["--data", str(small_isic_copy), "--output", str(cv_run), "--fold", "0", *folds]) == 0
    base = ["--data", str(small_isic_copy), "--output", str(all_data), "--fold", "-1", *folds]
    assert train_main([*base, "--calibration-from", str(tmp_path / "missing")]) == 2
    assert not (all_data / "last.pt").exists()
    assert train_main([*base, "--calibration-from", str(cv_run)]) == 0
    expected = load_checkpoint(cv_run / "best.pt").calibration
    assert expected != Calibration()
    assert load_checkpoint(all_data / "best.pt").calibration == expected
    assert Calibration.load(all_data / "calibration.json") == expected


def test_report_runs_folds_and_writes_tables_and_figures(small_isic_copy, tmp_path):
    from training.report import main as report_main

    args = ["--data", str(small_isic_copy), "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs"),
            "--encoders", "efficientnet_lite0", "--tasks", "multi", "cls", "--epochs", "1", "--batch-size", "8",
            "--folds", "3", "--run-folds", "1"]
    assert report_main(args) == 0
    tables = (tmp_path / "docs" / "results_tables.md").read_text()
    assert "seed paper, multi-task" in tables and "ours, multi-task" in tables and "ours, classification only" in tables
    assert (tmp_path / "docs" / "roc_curves.png").stat().st_size > 10_000
    assert (tmp_path / "docs" / "mask_overlays_efficientnet_lite0.png").stat().st_size > 10_000


def test_promote_strips_the_optimizer_and_keeps_calibration(tmp_path, small_isic_copy):
    import torch

    from lesion.calibration import Calibration, LabelCalibration
    from training.checkpoint import Checkpoint, save_checkpoint
    from training.promote import main as promote_main

    model = LesionNet(ModelConfig(pretrained=False))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 3, 256, 256))["mask"].mean().backward()
    optimizer.step()
    calibration = Calibration({"melanoma": LabelCalibration(2.0, -1.0, 0.2), "seborrheic_keratosis": LabelCalibration()})
    save_checkpoint(tmp_path / "last.pt", Checkpoint(model, calibration, epoch=3, optimizer_state=optimizer.state_dict()))
    assert promote_main([str(tmp_path / "last.pt"), "--output", str(tmp_path / "default.pt")]) == 0
    shipped = load_checkpoint(tmp_path / "default.pt")
    assert shipped.optimizer_state is None and shipped.epoch == 3 and shipped.calibration == calibration
    assert (tmp_path / "default.pt").stat().st_size < 0.5 * (tmp_path / "last.pt").stat().st_size
    assert promote_main([str(tmp_path / "missing.pt")]) == 2


def test_promote_makes_an_ensemble_calibrated_on_the_mean_of_its_members_held_out_predictions(tmp_path, capsys):
    from training.checkpoint import Checkpoint, save_checkpoint
    from training.held_out import HELD_OUT_FILE
    from training.models import LesionEnsemble
    from training.promote import main as promote_main
    from training.train import fit_calibration

    torch.manual_seed(0)
    members = [LesionNet(ModelConfig(encoder="inception", task=t, pretrained=False)).eval() for t in ("multi", "cls")]
    rng = np.random.default_rng(0)
    labels = (rng.random((2, 200, 2)) < 0.3).astype(np.float32)
    raw = [1 / (1 + np.exp(-(labels + rng.normal(0, 1, labels.shape)))) for _ in members]
    groups = []
    for m, (model, p) in enumerate(zip(members, raw)):
        save_checkpoint(tmp_path / f"member{m}.pt", Checkpoint(model, epoch=40, metrics={"held_out_fold": -1}))
        groups.append(["--calibration-from"])
        for k in range(2):
            run = tmp_path / f"member{m}" / f"fold{k}"
            run.mkdir(parents=True)
            np.savez(run / HELD_OUT_FILE, image_ids=np.array([f"ISIC_{k}{i:06d}" for i in range(200)]), labels=labels[k],
                     melanoma=p[k, :, 0], seborrheic_keratosis=p[k, :, 1], jaccard=np.zeros(200))
            groups[-1].append(str(run))
    out = tmp_path / "default.pt"
    assert promote_main([str(tmp_path / "member0.pt"), str(tmp_path / "member1.pt"), *groups[0], *groups[1],
                         "--output", str(out)]) == 0
    assert "float16 weights: parity on 8" in capsys.readouterr().out
    assert not out.with_name(out.name + ".candidate").exists()
    shipped = load_checkpoint(out)
    assert isinstance(shipped.model, LesionEnsemble) and shipped.metrics["held_out_fold"] == -1
    mean = (raw[0] + raw[1]) / 2
    expected = fit_calibration(labels.reshape(-1, 2), {"melanoma": mean[..., 0].ravel(),
                                                       "seborrheic_keratosis": mean[..., 1].ravel()})
    assert shipped.calibration == expected
    image = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        stored, original = shipped.model(image), LesionEnsemble(members)(image)
    for name in stored:
        assert torch.allclose(torch.sigmoid(stored[name]), torch.sigmoid(original[name]), atol=2e-3)
    assert out.stat().st_size < 0.6 * sum((tmp_path / f"member{m}.pt").stat().st_size for m in range(2))
    assert promote_main([str(tmp_path / "member0.pt"), str(tmp_path / "member1.pt"), *groups[0]]) == 2
    assert promote_main([str(tmp_path / "member0.pt"), *groups[0]]) == 2


def test_promote_refuses_an_ensemble_that_float16_breaks_and_keeps_the_old_model(tmp_path, capsys):
    """Weights beyond float16's range (65504) overflow when stored: NaN outputs must not pass the check."""
    from training.checkpoint import Checkpoint, save_checkpoint
    from training.held_out import HELD_OUT_FILE
    from training.promote import main as promote_main

    torch.manual_seed(0)
    members = [LesionNet(ModelConfig(encoder="inception", task=t, pretrained=False)).eval() for t in ("multi", "cls")]
    with torch.no_grad():
        next(members[1].parameters()).mul_(1e6)
    groups = []
    for m, model in enumerate(members):
        save_checkpoint(tmp_path / f"member{m}.pt", Checkpoint(model, metrics={"held_out_fold": -1}))
        run = tmp_path / f"member{m}" / "fold0"
        run.mkdir(parents=True)
        labels = np.tile([[1, 0], [0, 1], [0, 0], [1, 0]], (10, 1)).astype(np.float32)
        np.savez(run / HELD_OUT_FILE, image_ids=np.array([f"ISIC_{i:07d}" for i in range(40)]), labels=labels,
                 melanoma=np.linspace(0.1, 0.9, 40), seborrheic_keratosis=np.linspace(0.9, 0.1, 40), jaccard=np.zeros(40))
        groups += ["--calibration-from", str(run)]
    out = tmp_path / "default.pt"
    out.write_bytes(b"the model shipped before")
    assert promote_main([str(tmp_path / "member0.pt"), str(tmp_path / "member1.pt"), *groups, "--output", str(out)]) == 1
    assert "float16 storage changes the outputs too much" in capsys.readouterr().err
    assert out.read_bytes() == b"the model shipped before"
    assert not out.with_name(out.name + ".candidate").exists()


def test_moving_average_run_delivers_the_average_logs_the_raw_weights_and_resumes(small_isic_copy, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(small_isic_copy), "--output", str(out), "--epochs", "1", "--batch-size", "8", "--folds", "3",
            "--fold", "0", "--folds-file", str(tmp_path / "folds.json"), "--task", "cls", "--ema-decay", "0.5"]
    assert train_main(args) == 0
    last = load_checkpoint(out / "last.pt")
    average, raw = last.model.state_dict(), last.training_weights
    assert raw is not None and average.keys() == raw.keys()
    assert not all(torch.equal(average[k], raw[k]) for k in raw)
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert {"auc_melanoma", "raw_auc_melanoma", "raw_auc_mean"} <= set(header)
    args[args.index("--epochs") + 1] = "2"
    assert train_main(args + ["--resume"]) == 0
    resumed = load_checkpoint(out / "last.pt")
    assert resumed.epoch == 2 and not all(torch.equal(resumed.training_weights[k], raw[k]) for k in raw)
