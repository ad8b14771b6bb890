"""Serving benchmark: the same images through PyTorch eager, in-process ONNX Runtime and Triton.

Prints tables (p50/p95/p99 latency, images/s) for:
  1. the network: PyTorch eager and in-process ONNX Runtime (one caller), Triton over HTTP, gRPC and
     HTTP with system shared memory, at batch 1 and 8 and client concurrency 1, 4 and 16;
  2. one image through the whole pipeline (bytes in, mask + probabilities out) vs the same work in-process;
  3. one multi-task network served vs the two single-task networks (seg + cls, same encoder) served side
     by side, each image sent to both (all three untrained, so the comparison holds whatever is shipped,
     an ensemble included);
and the targets' verdicts. Every measured configuration runs for --seconds after a short warmup, so the
whole run is bounded (about 3 minutes by default, about 1 with --quick).

    python -m benchmarks.serving [--quick] [--checkpoint PATH]     (or: make benchmark)
"""
from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: its folder would shadow the `serving` package, so use the project's
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import itertools
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from google.protobuf import text_format
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from tritonclient.grpc import model_config_pb2 as mc

from export.onnx_export import export_onnx
from export.parity import parity_images
from export.repository import export_repository
from lesion.calibration import Calibration
from lesion.contract import IMAGE, NETWORK, PIPELINE, LABELS
from lesion.preprocessing import mask_to_original_size, preprocess_bytes
from serving.triton import DEFAULT_REPOSITORY, Endpoints, Ports, ServerConfig, TritonServer
from training.checkpoint import DEFAULT_MODEL, Checkpoint, load_checkpoint
from training.models import LesionNet, ModelConfig
from training.predict import OnnxPredictor, TorchPredictor

TIMEOUT_S = 120
ARCHITECTURES = {"multi": "lesion_net_multi", "seg": "lesion_net_seg", "cls": "lesion_net_cls"}
SINGLE_TASK = ("seg", "cls")
console = Console(width=110)

Call = Callable[[], None]  # one request (or one in-process run) of a whole batch


@dataclass(frozen=True)
class Result:
    path: str
    batch: int
    concurrency: int
    latencies_s: list[float]
    images: int
    wall_s: float

    @property
    def throughput(self) -> float:
        return self.images / self.wall_s

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1e3)


def measure(path: str, make_call: Callable[[], Call], batch: int, concurrency: int, seconds: float) -> Result:
    """Run `concurrency` callers for `seconds` after one warmup call each.

    Each caller builds its client in its own thread (tritonclient.http's gevent client is bound to it).
    """
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}
    go = threading.Event()

    def worker(index: int) -> int:
        call = make_call()
        if index == 0:
            call()  # warmup (models are warm already; this one also covers lazy client setup)
        ready.wait()
        go.wait()
        done = 0
        while time.perf_counter() < window["deadline"]:
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
            done += 1
        return done

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker, i) for i in range(concurrency)]
        ready.wait(timeout=TIMEOUT_S)
        start = time.perf_counter()
        window["deadline"] = start + seconds
        go.set()
        requests = sum(f.result() for f in futures)
        wall = time.perf_counter() - start
    return Result(path, batch, concurrency, latencies, requests * batch, wall)


# ---- callers ---------------------------------------------------------------------------------------

def in_process(predictor: Callable[[np.ndarray], dict], batch: np.ndarray) -> Callable[[], Call]:
    return lambda: (lambda: predictor(batch))


def triton_network(protocol: str, endpoints: Endpoints, batch: np.ndarray, model: str = NETWORK.name,
                   outputs: tuple[str, ...] = tuple(o.name for o in NETWORK.outputs)) -> Callable[[], Call]:
    module = httpclient if protocol == "http" else grpcclient

    def make() -> Call:
        if module is httpclient:
            client = httpclient.InferenceServerClient(endpoints.http_url, network_timeout=TIMEOUT_S)
        else:
            client = grpcclient.InferenceServerClient(endpoints.grpc_url)
        tensor = module.InferInput(IMAGE.name, list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        requested = [module.InferRequestedOutput(name) for name in outputs]

        def call() -> None:
            result = client.infer(model, [tensor], outputs=requested)
            assert result.as_numpy(outputs[0]).shape[0] == len(batch)

        return call

    return make


class SharedMemoryCallers:
    """HTTP with input and outputs in system shared memory; one region set per caller, freed on close."""

    def __init__(self, endpoints: Endpoints, batch: np.ndarray) -> None:
        self.endpoints, self.batch, self.regions = endpoints, batch, []
        self.counter = itertools.count()

    def __call__(self) -> Call:
        index = next(self.counter)
        regions = []
        client = httpclient.InferenceServerClient(self.endpoints.http_url, network_timeout=TIMEOUT_S)
        tensor = httpclient.InferInput(IMAGE.name, list(self.batch.shape), "FP32")
        requested = []
        for spec, array in [(IMAGE, self.batch)] + [(o, None) for o in NETWORK.outputs]:
            size = len(self.batch) * int(np.prod(spec.shape)) * 4
            name = f"bench_{os.getpid()}_{index}_{spec.name}"
            handle = shm.create_shared_memory_region(name, f"/{name}", size)
            client.register_system_shared_memory(name, f"/{name}", size)
            regions.append((name, handle))
            if array is not None:
                shm.set_shared_memory_region(handle, [np.ascontiguousarray(array)])
                tensor.set_shared_memory(name, size)
            else:
                output = httpclient.InferRequestedOutput(spec.name)
                output.set_shared_memory(name, size)
                requested.append(output)
        self.regions.extend(regions)  # list.extend is atomic under the GIL
        mask_handle = regions[1][1]
        shape = (len(self.batch), *NETWORK.outputs[0].shape)

        def call() -> None:
            client.infer(NETWORK.name, [tensor], outputs=requested)
            assert shm.get_contents_as_numpy(mask_handle, np.float32, shape).shape == shape

        return call

    def close(self) -> None:
        client = httpclient.InferenceServerClient(self.endpoints.http_url, network_timeout=TIMEOUT_S)
        for name, handle in self.regions:
            client.unregister_system_shared_memory(name)
            shm.destroy_shared_memory_region(handle)
        self.regions.clear()


def triton_pipeline(endpoints: Endpoints, data: bytes) -> Callable[[], Call]:
    def make() -> Call:
        client = httpclient.InferenceServerClient(endpoints.http_url, network_timeout=TIMEOUT_S)
        tensor = httpclient.InferInput("IMAGE_BYTES", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[data]], dtype=np.object_))
        return lambda: client.infer(PIPELINE.name, [tensor]).as_numpy("MASK")

    return make


def in_process_pipeline(predictor: OnnxPredictor, calibration: Calibration, data: bytes) -> Callable[[], Call]:
    """The pipeline's work without a server: decode + resize + normalise, ONNX Runtime, postprocess."""
    def call() -> None:
        image, size = preprocess_bytes(data)
        raw = predictor(image[None])
        mask_to_original_size(raw["mask"][0, 0], size)
        for label in LABELS:
            calibration.labels[label].decision(calibration.labels[label].probability(raw[label]))

    return lambda: call


def triton_side_by_side(endpoints: Endpoints, batch: np.ndarray) -> Callable[[], Call]:
    """Each batch goes to the seg and the cls network at once; done when both answered."""
    def make() -> Call:
        client = httpclient.InferenceServerClient(endpoints.http_url, concurrency=2, network_timeout=TIMEOUT_S)
        tensor = httpclient.InferInput(IMAGE.name, list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)

        def call() -> None:
            pending = [client.async_infer(ARCHITECTURES[task], [tensor]) for task in SINGLE_TASK]
            for request in pending:
                request.get_result(timeout=TIMEOUT_S)

        return call

    return make


# ---- setup -----------------------------------------------------------------------------------------

def architecture_config(task: str) -> str:
    """lesion_net's CPU config renamed, with only the outputs of a network of this task."""
    config = text_format.Parse((DEFAULT_REPOSITORY / NETWORK.name / "config.pbtxt").read_text(), mc.ModelConfig())
    config.name = ARCHITECTURES[task]
    keep = LesionNet(ModelConfig(task=task, pretrained=False)).outputs
    kept = [o for o in config.output if o.name in keep]
    del config.output[:]
    config.output.extend(kept)
    return text_format.MessageToString(config)


def build_repository(root: Path, ckpt: Checkpoint) -> Path:
    repository = root / "model_repository"
    shutil.copytree(DEFAULT_REPOSITORY, repository, ignore=shutil.ignore_patterns(
        "model.onnx", "model.plan", "calibration.json", "__pycache__"))
    export_repository(ckpt, repository, parity=False, tensorrt=False)
    for task, name in ARCHITECTURES.items():
        model = LesionNet(ModelConfig(task=task, pretrained=False)).eval()
        (repository / name / "1").mkdir(parents=True)
        shutil.copy(repository / NETWORK.name / "1" / "model.py", repository / name / "1" / "model.py")
        export_onnx(model, repository / name / "1" / "model.onnx")
        (repository / name / "config.pbtxt").write_text(architecture_config(task))
    return repository


# ---- report ----------------------------------------------------------------------------------------

def table(title: str, results: list[Result]) -> Table:
    t = Table(title=title)
    for column in ("path", "batch", "concurrency", "p50 ms", "p95 ms", "p99 ms", "images/s"):
        t.add_column(column, justify="left" if column == "path" else "right")
    for r in results:
        t.add_row(r.path, str(r.batch), str(r.concurrency), f"{r.percentile_ms(50):.1f}",
                  f"{r.percentile_ms(95):.1f}", f"{r.percentile_ms(99):.1f}", f"{r.throughput:.1f}")
    return t


def verdict(name: str, value: float, target: str, ok: bool) -> str:
    return f"{'PASS' if ok else 'MISS'}  {name}: {value:.2f} (target {target})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help=f"model to serve (default {DEFAULT_MODEL} when present, else an untrained "
                        "network of the same architecture: speed does not depend on the weights)")
    parser.add_argument("--quick", action="store_true", help="1 s per configuration instead of --seconds")
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per configuration")
    parser.add_argument("--threads", type=int, default=2, help="threads of in-process PyTorch / ONNX Runtime")
    return parser.parse_args(argv)


def load_model(path: Path | None) -> tuple[Checkpoint, str]:
    if path is not None or DEFAULT_MODEL.is_file():
        path = path or DEFAULT_MODEL
        return load_checkpoint(path), str(path)
    return Checkpoint(model=LesionNet(ModelConfig()).eval()), "untrained LesionNet(ModelConfig()) (no checkpoint)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    torch.set_num_threads(args.threads)
    ckpt, source = load_model(args.checkpoint)
    images, image_source = parity_images(count=8)
    jpeg = _one_jpeg()
    console.print(f"model: {source}\nimages: {image_source}\nmachine: {platform.processor() or platform.machine()}, "
                  f"{os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}; "
                  f"{seconds:.0f} s per configuration; load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="lesion-bench-") as tmp:
        repository = build_repository(Path(tmp), ckpt)
        ort_multi = OnnxPredictor(repository / NETWORK.name / "1" / "model.onnx", threads=args.threads)
        config = ServerConfig(repository=repository, ports=Ports.free(), log_file=Path(tmp) / "triton.log")
        server = TritonServer(config)
        with server as endpoints, Progress(console=console, transient=True) as progress:
            plan = _plan(ckpt, ort_multi, repository, endpoints, images, jpeg, args.threads)
            task = progress.add_task("benchmark", total=len(plan))
            results: dict[str, list[Result]] = {}
            for section, path, make, batch, concurrency in plan:
                progress.update(task, description=f"{path} batch {batch} x{concurrency}")
                results.setdefault(section, []).append(measure(path, make, batch, concurrency, seconds))
                progress.advance(task)
                if isinstance(make, SharedMemoryCallers):
                    make.close()
    for section, rows in results.items():
        console.print(table(section, rows))
    for line in _verdicts(results):
        console.print(line)
    console.print(f"load average at the end: {_load()}")
    return 0


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _one_jpeg() -> bytes:
    from export.parity import DEFAULT_DATA, IMAGE_DIR

    files = sorted((DEFAULT_DATA / IMAGE_DIR).glob("*.jpg"))
    if files:
        return files[0].read_bytes()
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


NETWORK_SECTION = "1. the network (same images)"
PIPELINE_SECTION = "2. one image through the whole pipeline (bytes -> mask + probabilities)"
TASKS_SECTION = "3. multi-task network vs seg + cls networks side by side"


def _plan(ckpt, ort_multi, repository, endpoints, images, jpeg, threads) -> list:
    plan = []
    for b in (1, 8):
        batch = np.ascontiguousarray(images[:b])
        plan.append((NETWORK_SECTION, "PyTorch eager, in-process", in_process(TorchPredictor(ckpt.model), batch), b, 1))
        plan.append((NETWORK_SECTION, "ONNX Runtime, in-process", in_process(ort_multi, batch), b, 1))
        for c in (1, 4, 16):
            plan.append((NETWORK_SECTION, "Triton HTTP", triton_network("http", endpoints, batch), b, c))
            plan.append((NETWORK_SECTION, "Triton gRPC", triton_network("grpc", endpoints, batch), b, c))
            plan.append((NETWORK_SECTION, "Triton HTTP + sys shm", SharedMemoryCallers(endpoints, batch), b, c))
    calibration = Calibration.load(repository / "postprocess" / "1" / "calibration.json")
    plan.append((PIPELINE_SECTION, "in-process (decode+ORT+post)",
                 in_process_pipeline(ort_multi, calibration, jpeg), 1, 1))
    plan.append((PIPELINE_SECTION, "Triton pipeline, HTTP", triton_pipeline(endpoints, jpeg), 1, 1))
    for c in (4, 16):
        plan.append((PIPELINE_SECTION, "Triton pipeline, HTTP", triton_pipeline(endpoints, jpeg), 1, c))
    for b, c in ((1, 4), (8, 4)):
        batch = np.ascontiguousarray(images[:b])
        multi = triton_network("http", endpoints, batch, ARCHITECTURES["multi"])
        plan.append((TASKS_SECTION, "multi-task, Triton HTTP", multi, b, c))
        plan.append((TASKS_SECTION, "seg + cls, Triton HTTP", triton_side_by_side(endpoints, batch), b, c))
    return plan


def _best(rows: list[Result], prefix: str) -> Result:
    return max((r for r in rows if r.path.startswith(prefix)), key=lambda r: r.throughput)


def _verdicts(results: dict[str, list[Result]]) -> list[str]:
    net, pipe, tasks = results[NETWORK_SECTION], results[PIPELINE_SECTION], results[TASKS_SECTION]
    ort_best = _best(net, "ONNX Runtime")
    triton_best = _best(net, "Triton")
    ratio = triton_best.throughput / ort_best.throughput
    in_process_p50 = pipe[0].percentile_ms(50)
    served_p50 = pipe[1].percentile_ms(50)
    multi = _best(tasks, "multi-task")
    pair = _best(tasks, "seg + cls")
    return [
        verdict(f"Triton best ({triton_best.path}, batch {triton_best.batch} x{triton_best.concurrency}) / "
                f"in-process ORT best (batch {ort_best.batch}) throughput", ratio, ">= 0.9", ratio >= 0.9),
        verdict("multi-task / (seg + cls side by side) throughput, best of each", multi.throughput / pair.throughput,
                ">= 1.4", multi.throughput / pair.throughput >= 1.4),
        verdict("pipeline p50 minus in-process p50, one image, ms", served_p50 - in_process_p50, "<= 15",
                served_p50 - in_process_p50 <= 15),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
