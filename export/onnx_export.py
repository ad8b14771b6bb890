"""PyTorch -> ONNX with the contract's tensor names, probabilities out and a dynamic batch axis."""
from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from lesion.contract import IMAGE, INPUT_SIZE

DEFAULT_OPSET = 17
BATCH_AXIS = "batch"


class ProbabilityGraph(nn.Module):
    """Wraps LesionNet: a tuple of sigmoid probabilities in `model.outputs` order (ONNX needs tuples)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(model.outputs)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.model(image)
        return tuple(torch.sigmoid(logits[name]) for name in self.names)


def export_onnx(
    model: nn.Module, path: Path, *, opset: int = DEFAULT_OPSET, metadata: dict[str, str] | None = None
) -> Path:
    """Write `model` (a LesionNet) as ONNX: input `image`, outputs named as the contract, batch dynamic.

    A single-task model gets only its own outputs. `metadata` goes into the file's metadata_props
    (e.g. "calibration", which training.predict.OnnxPredictor reads). Checked with `onnx.checker`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    graph = ProbabilityGraph(model).eval()
    names = list(graph.names)
    example = torch.zeros(1, *IMAGE.shape[:1], INPUT_SIZE, INPUT_SIZE)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter's own notices
        torch.onnx.export(
            graph,
            (example,),
            str(tmp),
            input_names=[IMAGE.name],
            output_names=names,
            dynamic_axes={name: {0: BATCH_AXIS} for name in [IMAGE.name, *names]},
            opset_version=opset,
            dynamo=False,
        )
    model.train(was_training)
    if metadata:
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(proto, metadata)
        onnx.save(proto, str(tmp))
    onnx.checker.check_model(str(tmp), full_check=True)
    tmp.replace(path)
    return path
