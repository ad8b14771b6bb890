"""Fill a Triton model repository from a checkpoint: model.onnx (+ model.plan on GPU hosts) and calibration."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from export.onnx_export import export_onnx
from export.parity import ONNX_TOLERANCE, TENSORRT_FP16_TOLERANCE, ParityReport, compare, parity_images
from lesion.contract import NETWORK, POSTPROCESS
from training.checkpoint import Checkpoint, load_checkpoint

VERSION = "1"


@dataclass(frozen=True)
class RepositoryFiles:
    onnx: Path
    plan: Path
    calibration: Path

    @classmethod
    def of(cls, repository: Path, version: str = VERSION) -> "RepositoryFiles":
        network = Path(repository) / NETWORK.name / version
        calibration = Path(repository) / POSTPROCESS.name / version / "calibration.json"
        return cls(network / "model.onnx", network / "model.plan", calibration)

    def stale(self, checkpoint: Path) -> bool:
        """True when model.onnx or calibration.json is missing or older than the checkpoint."""
        built = [self.onnx, self.calibration]
        if not all(p.is_file() for p in built):
            return True
        return min(p.stat().st_mtime for p in built) < Path(checkpoint).stat().st_mtime


@dataclass(frozen=True)
class ExportResult:
    files: RepositoryFiles
    onnx_parity: ParityReport | None
    tensorrt: str  # what happened to the TensorRT engine, in words


def export_repository(ckpt: Checkpoint, repository: Path, *, parity: bool = True,
                      tensorrt: bool = True, max_batch: int = 16) -> ExportResult:
    """Write the generated files of the repository; raise ParityError when the ONNX file disagrees."""
    files = RepositoryFiles.of(repository)
    model = ckpt.model.eval()
    if tuple(model.outputs) != tuple(spec.name for spec in NETWORK.outputs):
        raise ValueError(f"the served network needs outputs {[s.name for s in NETWORK.outputs]}, "
                         f"this checkpoint has {list(model.outputs)} (task {model.config.task!r})")
    if model.input_normalisation != "per-image":
        raise ValueError(f"the served preprocessing normalises each image (per-image); this network was trained "
                         f"on {model.input_normalisation!r} input, which the server does not produce")
    tmp = files.onnx.with_name("candidate.onnx")
    export_onnx(model, tmp, metadata={"calibration": ckpt.calibration.to_json()})
    report = None
    if parity:
        from training.predict import OnnxPredictor, TorchPredictor

        batch, source = parity_images()
        try:
            report = compare(TorchPredictor(model), OnnxPredictor(tmp), batch, ONNX_TOLERANCE, source)
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
    tmp.replace(files.onnx)
    files.calibration.parent.mkdir(parents=True, exist_ok=True)
    ckpt.calibration.save(files.calibration)
    return ExportResult(files, report, _tensorrt(model, files, tensorrt, parity, max_batch))


def _tensorrt(model, files: RepositoryFiles, wanted: bool, parity: bool, max_batch: int) -> str:
    from export.tensorrt import EngineRunner, build_engine, missing_requirements

    if not wanted:
        return "TensorRT engine not requested (--no-tensorrt)"
    missing = missing_requirements()
    if missing:
        return ("no TensorRT engine built: this host lacks " + "; ".join(missing)
                + ". CPU and GPU-ONNX-Runtime variants need only model.onnx; for gpu_tensorrt run "
                "export/build_engine_in_container.sh on the GPU host (docs/serving.md)")
    build_engine(files.onnx, files.plan, max_batch=max_batch)
    if parity:
        from training.predict import TorchPredictor

        batch, source = parity_images()
        report = compare(TorchPredictor(model), EngineRunner(files.plan), batch, TENSORRT_FP16_TOLERANCE, source)
        return f"wrote {files.plan} (FP16, batch 1..{max_batch}); {report}"
    return f"wrote {files.plan} (FP16, batch 1..{max_batch}); parity not checked"


def load_for_export(checkpoint: Path | None, untrained: bool = False) -> Checkpoint:
    """The checkpoint to export; with `untrained`, an ImageNet encoder with an untrained decoder (smoke tests)."""
    if untrained:
        from training.models import LesionNet, ModelConfig

        return Checkpoint(model=LesionNet(ModelConfig()).eval())
    return load_checkpoint(checkpoint)
