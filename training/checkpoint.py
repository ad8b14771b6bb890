"""Checkpoints: one file holding weights, model config, calibration and training state.

Every value is a tensor or plain Python data, so `torch.load(..., weights_only=True)` reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from lesion.calibration import Calibration
from training.models import LesionNet, ModelConfig

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "lesion_multitask.pt"


@dataclass
class Checkpoint:
    model: LesionNet
    calibration: Calibration = field(default_factory=Calibration)
    epoch: int = 0
    metrics: dict = field(default_factory=dict)
    optimizer_state: dict | None = None


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": ckpt.model.state_dict(),
        "config": ckpt.model.config.to_dict(),
        "calibration": ckpt.calibration.to_json(),
        "epoch": ckpt.epoch,
        "metrics": ckpt.metrics,
    }
    if ckpt.optimizer_state is not None:
        state["optimizer"] = ckpt.optimizer_state
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path | None = None, map_location: str = "cpu") -> Checkpoint:
    """Load a checkpoint (the shipped default model when path is None), model in eval mode."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    config = state["config"]
    config = ModelConfig(**{**config, "decoder_channels": tuple(config["decoder_channels"]), "pretrained": False})
    model = LesionNet(config)
    model.load_state_dict(state["model"])
    model.eval()
    return Checkpoint(
        model=model,
        calibration=Calibration.from_json(state["calibration"]),
        epoch=state.get("epoch", 0),
        metrics=state.get("metrics", {}),
        optimizer_state=state.get("optimizer"),
    )
