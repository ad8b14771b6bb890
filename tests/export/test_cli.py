"""python -m export: fills a repository, honours --if-stale, fails clearly; TensorRT says what is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from export.repository import RepositoryFiles
from export.tensorrt import TensorRTUnavailable, missing_requirements, require_tensorrt
from lesion.calibration import Calibration
from serving.triton import DEFAULT_REPOSITORY, PROJECT_ROOT
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.models import LesionNet, ModelConfig
from training.predict import OnnxPredictor


def run_export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def repository(tmp_path):
    target = tmp_path / "model_repository"
    shutil.copytree(DEFAULT_REPOSITORY, target, ignore=shutil.ignore_patterns("model.onnx", "model.plan",
                                                                              "calibration.json", "__pycache__"))
    return target


def test_export_writes_onnx_and_calibration_then_skips_when_fresh(checkpoint_path, repository):
    result = run_export("--checkpoint", str(checkpoint_path), "--repository", str(repository))
    assert result.returncode == 0, result.stderr
    assert "ONNX Runtime vs PyTorch: parity on" in result.stdout
    assert "no TensorRT engine built" in result.stdout or "model.plan" in result.stdout
    files = RepositoryFiles.of(repository)
    expected = load_checkpoint(checkpoint_path).calibration
    assert Calibration.load(files.calibration) == expected
    assert OnnxPredictor(files.onnx).calibration == expected  # carried in the ONNX metadata too
    assert not files.stale(checkpoint_path)
    again = run_export("--checkpoint", str(checkpoint_path), "--repository", str(repository), "--if-stale")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    newer = repository.parent / "newer.pt"
    shutil.copy(checkpoint_path, newer)
    later = files.onnx.stat().st_mtime + 10
    os.utime(newer, (later, later))
    assert files.stale(newer)  # a retrained model makes `make serve` export again


def test_missing_checkpoint_is_a_clear_error(tmp_path, repository):
    result = run_export("--checkpoint", str(tmp_path / "nope.pt"), "--repository", str(repository))
    assert result.returncode == 2
    assert "no checkpoint at" in result.stderr and "--untrained" in result.stderr
    assert not RepositoryFiles.of(repository).onnx.exists()


def test_a_network_trained_on_other_input_than_the_server_makes_is_refused(tmp_path, repository):
    path = tmp_path / "fixed.pt"
    save_checkpoint(path, Checkpoint(LesionNet(ModelConfig(pretrained=False, input_normalisation="fixed")).eval()))
    result = run_export("--checkpoint", str(path), "--repository", str(repository))
    assert result.returncode == 2
    assert "cannot be served" in result.stderr and "'fixed'" in result.stderr
    assert not RepositoryFiles.of(repository).onnx.exists()


def test_tensorrt_says_what_is_missing_here():
    missing = missing_requirements()
    if not missing:
        pytest.skip("this host has TensorRT and a GPU")
    with pytest.raises(TensorRTUnavailable, match="build_engine_in_container.sh"):
        require_tensorrt()
    result = subprocess.run([sys.executable, "-m", "export.tensorrt", "model.onnx"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "cannot build a TensorRT engine on this host: missing" in result.stderr
