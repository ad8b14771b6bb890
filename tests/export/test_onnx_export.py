"""ONNX export: checker, contract names, dynamic batch, parity with PyTorch (and a parity that fails)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from export.onnx_export import export_onnx
from export.parity import ONNX_TOLERANCE, ParityError, compare, parity_images
from lesion.contract import NETWORK
from training.checkpoint import load_checkpoint
from training.models import LesionEnsemble, LesionNet, ModelConfig
from training.predict import OnnxPredictor, TorchPredictor


@pytest.fixture(scope="module")
def model(checkpoint_path) -> LesionNet:
    return load_checkpoint(checkpoint_path).model


@pytest.fixture(scope="module")
def onnx_path(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", metadata={"note": "test"})


@pytest.fixture(scope="module")
def real_batch(isic_root):
    batch, source = parity_images(isic_root, count=5)
    assert "ISIC" in source
    return batch


def test_checker_passes_and_names_follow_the_contract(onnx_path):
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == [NETWORK.inputs[0].name]
    assert [o.name for o in proto.graph.output] == [o.name for o in NETWORK.outputs]
    assert {p.key: p.value for p in proto.metadata_props}["note"] == "test"


@pytest.mark.parametrize("batch_size", [1, 5])
def test_dynamic_batch(onnx_path, batch_size):
    outputs = OnnxPredictor(onnx_path)(np.zeros((batch_size, 3, 256, 256), np.float32))
    assert {k: v.shape for k, v in outputs.items()} == {
        spec.name: (batch_size, *spec.shape) for spec in NETWORK.outputs
    }


def test_parity_with_pytorch_on_real_images(model, onnx_path, real_batch):
    report = compare(TorchPredictor(model), OnnxPredictor(onnx_path), real_batch, ONNX_TOLERANCE, "ISIC")
    assert max(report.max_abs_diff.values()) <= ONNX_TOLERANCE.probability
    assert 0.0 <= report.mask_flip_fraction <= ONNX_TOLERANCE.mask_flip_fraction


def test_parity_check_fails_for_a_different_model(onnx_path, real_batch):
    torch.manual_seed(1)
    other = LesionNet(ModelConfig(pretrained=False)).eval()
    with pytest.raises(ParityError, match="exceeds tolerance"):
        compare(TorchPredictor(other), OnnxPredictor(onnx_path), real_batch, ONNX_TOLERANCE, "ISIC")


@pytest.mark.parametrize("task", ["seg", "cls"])
def test_single_task_models_export_only_their_outputs(task, tmp_path):
    model = LesionNet(ModelConfig(task=task, pretrained=False)).eval()
    outputs = OnnxPredictor(export_onnx(model, tmp_path / f"{task}.onnx"))(np.zeros((2, 3, 256, 256), np.float32))
    assert tuple(outputs) == model.outputs


def test_lesion_pooling_model_exports_with_parity(real_batch, tmp_path):
    torch.manual_seed(0)
    model = LesionNet(ModelConfig(cls_pooling="lesion")).eval()
    path = export_onnx(model, tmp_path / "lesion.onnx")
    report = compare(TorchPredictor(model), OnnxPredictor(path), real_batch, ONNX_TOLERANCE, "ISIC")
    assert max(report.max_abs_diff.values()) <= ONNX_TOLERANCE.probability


def test_an_ensemble_with_an_exclusive_label_head_exports_with_parity(model, real_batch, tmp_path):
    torch.manual_seed(0)
    cls = LesionNet(ModelConfig(task="cls", pretrained=False, label_head="exclusive")).eval()
    ensemble = LesionEnsemble([model, cls]).eval()
    path = export_onnx(ensemble, tmp_path / "exclusive.onnx")
    report = compare(TorchPredictor(ensemble), OnnxPredictor(path), real_batch, ONNX_TOLERANCE, "ISIC")
    assert max(report.max_abs_diff.values()) <= ONNX_TOLERANCE.probability


@pytest.mark.parametrize("cls_input_scale", [1.0, 1.25])
def test_an_ensemble_exports_as_one_network_with_parity(model, real_batch, tmp_path, cls_input_scale):
    cls = LesionNet(ModelConfig(task="cls", pretrained=False, input_scale=cls_input_scale)).eval()
    ensemble = LesionEnsemble([model, cls]).eval()
    path = export_onnx(ensemble, tmp_path / "ensemble.onnx")
    assert [o.name for o in onnx.load(str(path)).graph.output] == [o.name for o in NETWORK.outputs]
    report = compare(TorchPredictor(ensemble), OnnxPredictor(path), real_batch, ONNX_TOLERANCE, "ISIC")
    assert max(report.max_abs_diff.values()) <= ONNX_TOLERANCE.probability
