"""ONNX -> TensorRT FP16 engine (model.plan) with an optimisation profile for batch 1..max, plus parity.

An engine only loads in a Triton whose TensorRT version built it, so build it with the TensorRT of the
serving container (export/build_engine_in_container.sh; versions in docs/serving.md):

    python -m export.tensorrt model_repository/lesion_net/1/model.onnx --max-batch 16
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

from lesion.contract import IMAGE, INPUT_SIZE

DEFAULT_MAX_BATCH = 16
DEFAULT_WORKSPACE_GIB = 2


class TensorRTUnavailable(RuntimeError):
    """TensorRT or a GPU is missing here; the message says which and what to do instead."""


def missing_requirements() -> list[str]:
    """What this host lacks for building an engine (empty when it can build one)."""
    missing = []
    if importlib.util.find_spec("tensorrt") is None:
        missing.append("the `tensorrt` Python package (it ships in the NGC containers; pip install tensorrt)")
    try:
        import torch

        if not torch.cuda.is_available():
            missing.append("a CUDA GPU (torch.cuda.is_available() is False)")
    except ImportError:
        missing.append("torch, used here to detect a CUDA GPU")
    return missing


def require_tensorrt() -> None:
    missing = missing_requirements()
    if missing:
        raise TensorRTUnavailable(
            "cannot build a TensorRT engine on this host: missing " + "; ".join(missing)
            + ". Build it on the GPU host inside the Triton container that will serve it: "
            "export/build_engine_in_container.sh (see docs/serving.md). The CPU and GPU ONNX Runtime "
            "variants need only model.onnx."
        )


def build_engine(onnx_path: Path, plan_path: Path, *, max_batch: int = DEFAULT_MAX_BATCH,
                 fp16: bool = True, workspace_gib: int = DEFAULT_WORKSPACE_GIB) -> Path:
    """Build and serialise an engine; the profile covers batch 1..max_batch (optimum max_batch / 2)."""
    require_tensorrt()
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # implicit in TensorRT >= 10
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}:\n{errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gib << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shape = (IMAGE.shape[0], INPUT_SIZE, INPUT_SIZE)
    profile = builder.create_optimization_profile()
    profile.set_shape(IMAGE.name, (1, *shape), (max(1, max_batch // 2), *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build the engine (see its log above)")
    plan_path = Path(plan_path)
    plan_path.write_bytes(bytes(engine))
    return plan_path


class EngineRunner:
    """Runs a serialised engine on the GPU through torch tensors (for the parity check)."""

    def __init__(self, plan_path: Path) -> None:
        require_tensorrt()
        import tensorrt as trt

        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        image = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
        self.context.set_input_shape(IMAGE.name, tuple(image.shape))
        self.context.set_tensor_address(IMAGE.name, image.data_ptr())
        results = {}
        for name in self.outputs:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=torch.float32, device="cuda")
            self.context.set_tensor_address(name, out.data_ptr())
            results[name] = out
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: value.cpu().numpy() for name, value in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.tensorrt",
        description="Build a TensorRT FP16 engine (model.plan) from the exported ONNX file, with an "
        "optimisation profile for batch 1..--max-batch, and check it against ONNX Runtime on the same "
        "images. Run it where the serving Triton's TensorRT is (see docs/serving.md).",
    )
    parser.add_argument("onnx", type=Path, help="the exported model.onnx")
    parser.add_argument("--output", type=Path, help="engine path (default: model.plan beside the ONNX file)")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                        help="largest batch of the optimisation profile; must match max_batch_size in config")
    parser.add_argument("--fp32", action="store_true", help="build in FP32 instead of FP16")
    parser.add_argument("--skip-parity", action="store_true", help="do not compare with ONNX Runtime")
    args = parser.parse_args(argv)
    try:
        plan = build_engine(args.onnx, args.output or args.onnx.with_name("model.plan"),
                            max_batch=args.max_batch, fp16=not args.fp32)
    except TensorRTUnavailable as err:
        parser.exit(2, f"{err}\n")
    print(f"wrote {plan}")
    if not args.skip_parity:
        from export.parity import TENSORRT_FP16_TOLERANCE, compare, parity_images
        from training.predict import OnnxPredictor

        batch, source = parity_images()
        print(compare(OnnxPredictor(args.onnx), EngineRunner(plan), batch, TENSORRT_FP16_TOLERANCE, source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
