"""Start, wait for and stop a local Triton Inference Server; one implementation for the CLI and tests.

The server binary, the python backend and its stubs come from the `nvidia-pytriton==0.7.0` wheel
(internal paths, hence the pin). The python-backend stub ignores PYTHONPATH: it finds its packages via
the `python3` first on PATH, so this venv's bin/ goes first and `import lesion` works in model.py.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPOSITORY = PROJECT_ROOT / "model_repository"
DEFAULT_LOG = PROJECT_ROOT / "logs" / "triton.log"
DEFAULT_HOST = "127.0.0.1"


class TritonError(RuntimeError):
    """The server could not start, did not become ready, or is not running; the message says why."""


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002

    @classmethod
    def free(cls) -> "Ports":
        """Three ports that are free right now (for tests; never fixed ports there)."""
        socks = [socket.socket() for _ in range(3)]
        try:
            for s in socks:
                s.bind((DEFAULT_HOST, 0))
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()


@dataclass(frozen=True)
class ServerConfig:
    repository: Path = DEFAULT_REPOSITORY
    ports: Ports = field(default_factory=Ports)
    host: str = DEFAULT_HOST
    log_file: Path = DEFAULT_LOG
    model_config_name: str | None = None  # None: config.pbtxt (CPU); e.g. "gpu_tensorrt" on GPU hosts
    exit_timeout_s: int = 10
    verbose: int = 0


@dataclass(frozen=True)
class Endpoints:
    """Where a running server answers; what tests and clients need."""

    http_url: str  # host:port, as tritonclient.http expects
    grpc_url: str  # host:port, as tritonclient.grpc expects
    metrics_url: str  # full URL of the Prometheus text endpoint

    @classmethod
    def of(cls, config: ServerConfig) -> "Endpoints":
        host, ports = config.host, config.ports
        return cls(f"{host}:{ports.http}", f"{host}:{ports.grpc}", f"http://{host}:{ports.metrics}/metrics")


def _pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")  # locating it without importing it (slow)
    if spec is None or spec.origin is None:
        raise TritonError("nvidia-pytriton is not installed: pip install nvidia-pytriton==0.7.0")
    return Path(spec.origin).parent / "tritonserver"


def tritonserver_binary() -> Path:
    return _pytriton_dir() / "bin" / "tritonserver"


def backend_directory(build_dir: Path = PROJECT_ROOT / "build" / "triton-backends") -> Path:
    """A backend dir with the python backend and the stub for this interpreter side by side."""
    source = _pytriton_dir()
    python = build_dir / "python"
    python.mkdir(parents=True, exist_ok=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    links = {
        "libtriton_python.so": source / "backends" / "python" / "libtriton_python.so",
        "triton_python_backend_utils.py": source / "backends" / "python" / "triton_python_backend_utils.py",
        "triton_python_backend_stub": source / "python_backend_stubs" / version / "triton_python_backend_stub",
    }
    for name, target in links.items():
        if not target.exists():
            raise TritonError(f"{target} is missing from the nvidia-pytriton wheel (Python {version})")
        link = python / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        tmp = python / f".{name}.{os.getpid()}"  # concurrent starts (parallel test sessions) must not race
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(link)
    return build_dir


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in [libdir, env.get("LD_LIBRARY_PATH", "")] if p)
    env.pop("PYTHONPATH", None)
    return env


def command(config: ServerConfig) -> list[str]:
    ports = config.ports
    args = [
        str(tritonserver_binary()),
        f"--model-repository={Path(config.repository).resolve()}",
        f"--backend-directory={backend_directory()}",
        f"--http-address={config.host}",
        f"--grpc-address={config.host}",
        f"--metrics-address={config.host}",
        f"--http-port={ports.http}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
        "--allow-gpu-metrics=false",
        "--allow-cpu-metrics=true",
        "--metrics-config=summary_latencies=true",
        "--disable-auto-complete-config",
        f"--exit-timeout-secs={config.exit_timeout_s}",
        f"--log-verbose={config.verbose}",
    ]
    if config.model_config_name:
        args.append(f"--model-config-name={config.model_config_name}")
    return args


class TritonServer:
    """One tritonserver process. `start()` returns at once; `wait_ready()` blocks; `stop()` ends it."""

    def __init__(self, config: ServerConfig = ServerConfig()) -> None:
        self.config = config
        self.endpoints = Endpoints.of(config)
        self.process: subprocess.Popen | None = None

    def start(self, *, detach: bool = False) -> "TritonServer":
        """Spawn the server; with detach it outlives this Python process (for the CLI)."""
        for name, port in vars(self.config.ports).items():
            if port_in_use(self.config.host, port):
                raise TritonError(
                    f"port {port} ({name}) on {self.config.host} is already in use: stop what holds it "
                    f"(`python -m serving stop` if it is an earlier server) or choose other ports"
                )
        log_file = Path(self.config.log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "wb") as log:
            self.process = subprocess.Popen(
                command(self.config),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_environment(),
                start_new_session=detach,
            )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise TritonError("the server was not started")
        return self.process.pid

    def wait_ready(self, timeout_s: float = 120.0) -> Endpoints:
        """Block until /v2/health/ready answers 200; raise with the log's errors if the server died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise TritonError(
                    f"tritonserver exited with code {self.process.returncode} before it was ready:\n"
                    f"{log_errors(self.config.log_file)}\nfull log: {self.config.log_file}"
                )
            if is_ready(self.endpoints.http_url):
                return self.endpoints
            time.sleep(0.25)
        self.stop()
        raise TritonError(
            f"tritonserver was not ready after {timeout_s:.0f} s:\n{log_errors(self.config.log_file)}\n"
            f"full log: {self.config.log_file}"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Endpoints:
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def is_ready(http_url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urlopen(f"http://{http_url}/v2/health/ready", timeout=timeout_s) as response:
            return response.status == 200
    except (URLError, OSError):
        return False


def log_errors(log_file: Path, limit: int = 20) -> str:
    """The lines of a Triton log that say what went wrong (model load failures, bind errors)."""
    try:
        lines = Path(log_file).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    noise = ("CUDA", "cuda", "NVML", "nvml", "DCGM", "GPU metrics", "Unable to get")
    wanted = [
        line for line in lines
        if (line.startswith("E") or "failed" in line.lower() or "error" in line.lower())
        and not any(n in line for n in noise)
    ]
    return "\n".join((wanted or lines)[-limit:])
