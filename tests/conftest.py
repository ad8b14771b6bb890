"""Fixtures shared by every test package.

Data and models
- `isic_root` (session): the ISIC 2017 data root (`../shared/data/isic2017-256`); skips when absent.
- `isic_images` (session): paths of a few real ISIC JPEGs, sorted; skips when absent.
- `checkpoint_path` (session): the shipped default model when it exists, else a checkpoint of
  `LesionNet(ModelConfig())` (ImageNet encoder, untrained decoder) saved to a temp dir.
- `model_repository` (session): a private copy of `model_repository/` with model.onnx and
  calibration.json exported from `checkpoint_path` (the checkout's own repository is never touched).

A real Triton server
- `triton_server` (session): a real tritonserver serving `model_repository` (preprocess, lesion_net,
  postprocess, lesion_pipeline) on free ports of 127.0.0.1; returns `serving.triton.Endpoints`:
  `.http_url` / `.grpc_url` ("127.0.0.1:PORT", what tritonclient takes) and `.metrics_url` (full URL).
  It is stopped at the end of the session; its log is `triton.log` in the session's temp dir.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.triton import DEFAULT_REPOSITORY, Endpoints, Ports, ServerConfig, TritonError, TritonServer

ISIC_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "isic2017-256"
ISIC_IMAGE_DIR = "ISIC-2017_Training_Data"
GENERATED = ("model.onnx", "model.plan", "calibration.json", "candidate.onnx", "__pycache__")


@pytest.fixture(scope="session")
def isic_root() -> Path:
    if not (ISIC_ROOT / ISIC_IMAGE_DIR).is_dir():
        pytest.skip(f"ISIC 2017 data not found at {ISIC_ROOT}")
    return ISIC_ROOT


@pytest.fixture(scope="session")
def isic_images(isic_root: Path) -> list[Path]:
    return sorted((isic_root / ISIC_IMAGE_DIR).glob("*.jpg"))[:16]


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.checkpoint import DEFAULT_MODEL, Checkpoint, save_checkpoint
    from training.models import LesionNet, ModelConfig

    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL
    path = tmp_path_factory.mktemp("checkpoint") / "untrained.pt"
    save_checkpoint(path, Checkpoint(model=LesionNet(ModelConfig()).eval()))
    return path


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory, checkpoint_path: Path) -> Path:
    from export.repository import export_repository
    from training.checkpoint import load_checkpoint

    repository = tmp_path_factory.mktemp("triton") / "model_repository"
    shutil.copytree(DEFAULT_REPOSITORY, repository, ignore=shutil.ignore_patterns(*GENERATED))
    export_repository(load_checkpoint(checkpoint_path), repository, parity=False, tensorrt=False)
    return repository


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory: pytest.TempPathFactory, model_repository: Path) -> Iterator[Endpoints]:
    log_file = tmp_path_factory.mktemp("triton-log") / "triton.log"
    for attempt in range(3):  # a free port can be taken between choosing it and binding it
        server = TritonServer(ServerConfig(repository=model_repository, ports=Ports.free(), log_file=log_file))
        try:
            server.start()
            endpoints = server.wait_ready(timeout_s=180)
            break
        except TritonError:
            server.stop()
            if attempt == 2:
                raise
    try:
        yield endpoints
    finally:
        server.stop()
