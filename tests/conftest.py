"""Fixtures shared by every test package.

Real ISIC 2017 data is read from ../shared/data/isic2017-256 (or $ISIC_DATA); tests that need it skip
cleanly where it is absent.

Data
- `isic_root`, `isic_samples`, `isic_jpeg_bytes`: see their docstrings.

Models and a real Triton server
- `checkpoint_path` (session): the shipped default model when it exists, else a checkpoint of
  `LesionNet(ModelConfig())` (ImageNet encoder, untrained decoder) saved to a temp dir.
- `model_repository` (session): a private copy of `model_repository/` with model.onnx and
  calibration.json exported from `checkpoint_path` (the checkout's own repository is never touched).
- `triton_server` (session): a real tritonserver serving `model_repository` (preprocess, lesion_net,
  postprocess, lesion_pipeline) on free ports of 127.0.0.1; returns `serving.triton.Endpoints`:
  `.http_url` / `.grpc_url` ("127.0.0.1:PORT", what tritonclient takes) and `.metrics_url` (full URL
  of the Prometheus text endpoint). Stopped at the end of the session; its log is `triton.log` in a
  session temp dir (the path is in the error when it fails to start).
"""
from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from serving.triton import DEFAULT_REPOSITORY, Endpoints, Ports, ServerConfig, TritonError, TritonServer

REPO = Path(__file__).resolve().parent.parent
ISIC_ROOT = Path(os.environ.get("ISIC_DATA", REPO.parent / "shared" / "data" / "isic2017-256"))
GENERATED = ("model.onnx", "model.plan", "calibration.json", "candidate.onnx", "__pycache__")


@pytest.fixture(scope="session")
def isic_root() -> Path:
    """The ISIC 2017 data root (official layout); skips the test where it is absent."""
    if not (ISIC_ROOT / "ISIC-2017_Training_Data").is_dir():
        pytest.skip(f"ISIC 2017 data not found at {ISIC_ROOT}")
    return ISIC_ROOT


@pytest.fixture(scope="session")
def isic_samples(isic_root: Path):
    from training.data import read_split

    return read_split(isic_root, "training")


@pytest.fixture(scope="session")
def isic_jpeg_bytes(isic_samples) -> list[bytes]:
    """A few real ISIC JPEGs as bytes: two nevi, a melanoma, a seborrheic keratosis."""
    picks = [s for s in isic_samples if s.diagnosis == 0][:2]
    picks += [next(s for s in isic_samples if s.diagnosis == d) for d in (1, 2)]
    return [s.image_path.read_bytes() for s in picks]


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """Gives ports nothing listens on right now (for 'server down' and servers the tests start)."""
    return _free_port


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (bash scripts/install-system-deps.sh installs it)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _binary("prometheus")
