"""Checkpoints: one file holding weights, model config, calibration and training state.

Every value is a tensor or plain Python data, so `torch.load(..., weights_only=True)` reads it. An
ensemble keeps each member's weights and config, in float16 so that two networks fit the 25 MB the
default model may take (computation stays float32: the weights are widened on loading).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from lesion.calibration import Calibration
from training.models import LesionEnsemble, LesionNet, ModelConfig

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "lesion_multitask.pt"


@dataclass
class Checkpoint:
    model: LesionNet | LesionEnsemble
    calibration: Calibration = field(default_factory=Calibration)
    epoch: int = 0
    metrics: dict = field(default_factory=dict)
    optimizer_state: dict | None = None
    training_weights: dict | None = None  # the optimised weights, where `model` holds their moving average


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(ckpt.model, LesionEnsemble):
        weights = {"members": [{"model": _cast(m.state_dict(), torch.float16), "config": m.config.to_dict()}
                               for m in ckpt.model.members]}
    else:
        weights = {"model": ckpt.model.state_dict(), "config": ckpt.model.config.to_dict()}
    state = {
        **weights,
        "calibration": ckpt.calibration.to_json(),
        "epoch": ckpt.epoch,
        "metrics": ckpt.metrics,
    }
    if ckpt.optimizer_state is not None:
        state["optimizer"] = ckpt.optimizer_state
    if ckpt.training_weights is not None:
        state["training_weights"] = ckpt.training_weights
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path | None = None, map_location: str = "cpu") -> Checkpoint:
    """Load a checkpoint (the shipped default model when path is None), model in eval mode."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if "members" in state:
        model = LesionEnsemble([_network(m["config"], _cast(m["model"], torch.float32)) for m in state["members"]])
    else:
        model = _network(state["config"], state["model"])
    model.eval()
    return Checkpoint(
        model=model,
        calibration=Calibration.from_json(state["calibration"]),
        epoch=state.get("epoch", 0),
        metrics=state.get("metrics", {}),
        optimizer_state=state.get("optimizer"),
        training_weights=state.get("training_weights"),
    )


def _network(config: dict, weights: dict[str, torch.Tensor]) -> LesionNet:
    config = {**config, "decoder_channels": tuple(config["decoder_channels"]), "pretrained": False}
    model = LesionNet(ModelConfig(**config))
    model.load_state_dict(weights)
    return model


def _cast(weights: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Floating-point tensors to dtype; integer ones (BatchNorm's batch counters) as they are."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
