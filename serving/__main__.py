"""python -m serving start|stop|status: the local Triton server (see --help)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from serving.triton import (
    DEFAULT_HOST,
    DEFAULT_LOG,
    DEFAULT_REPOSITORY,
    Endpoints,
    Ports,
    ServerConfig,
    TritonError,
    TritonServer,
    is_ready,
)



def state_file(log_file: Path) -> Path:
    """Where `start` records the pid and URLs for `stop` and `status`: beside the log."""
    return Path(log_file).with_suffix(".json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Run the real Triton Inference Server (from the nvidia-pytriton wheel) on this host. "
        "`start` returns once every model is ready; the server keeps running until `stop`.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start the server and wait until it is ready")
    start.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help=f"model repository (default {DEFAULT_REPOSITORY})")
    start.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    start.add_argument("--http-port", type=int, default=8000, help="HTTP/REST port (default 8000)")
    start.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (default 8001)")
    start.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)")
    start.add_argument("--variant", default=None, metavar="NAME",
                       help="model config variant: none = config.pbtxt (CPU); gpu_onnxruntime or "
                       "gpu_tensorrt on a GPU Triton (passed as --model-config-name)")
    start.add_argument("--timeout", type=float, default=180, help="seconds to wait for readiness (default 180)")
    stop = sub.add_parser("stop", help="stop the server started by `start`")
    status = sub.add_parser("status", help="say whether the server runs and is ready (exit 0 when ready)")
    for command in (start, stop, status):
        command.add_argument("--log-file", type=Path, default=DEFAULT_LOG,
                             help=f"server log; its pid/URL record sits beside it (default {DEFAULT_LOG})")
    return parser.parse_args(argv)


def _read_state(log_file: Path) -> dict | None:
    try:
        state = json.loads(state_file(log_file).read_text())
    except (OSError, ValueError):
        return None
    return state if _alive(state["pid"]) else None


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tritonserver" in cmdline


def start(args: argparse.Namespace) -> int:
    config = ServerConfig(repository=args.repository, ports=Ports(args.http_port, args.grpc_port, args.metrics_port),
                          host=args.host, log_file=args.log_file, model_config_name=args.variant)
    if (state := _read_state(args.log_file)) is not None:
        if state["http_url"] == Endpoints.of(config).http_url and is_ready(state["http_url"]):
            # `make serve` twice (e.g. via `make demo`) is fine; a re-export needs a restart to load
            print(f"already running and ready (pid {state['pid']}): HTTP {state['http_url']}; "
                  "`python -m serving stop` first to load a newly exported model")
            return 0
        print(f"error: a server started here already runs (pid {state['pid']}, http {state['http_url']}); "
              "`python -m serving stop` first", file=sys.stderr)
        return 1
    server = TritonServer(config)
    print(f"starting tritonserver; log: {config.log_file}")
    try:
        server.start(detach=True)
        endpoints = server.wait_ready(args.timeout)
    except TritonError as err:
        server.stop()
        print(f"error: {err}", file=sys.stderr)
        return 1
    state = {"pid": server.pid, **vars(endpoints), "log": str(config.log_file)}
    state_file(config.log_file).write_text(json.dumps(state))
    print(f"ready (pid {server.pid}): HTTP {endpoints.http_url}, gRPC {endpoints.grpc_url}, "
          f"metrics {endpoints.metrics_url}")
    return 0


def stop(log_file: Path) -> int:
    state = _read_state(log_file)
    if state is None:
        print("no server started by `python -m serving start` is running")
        state_file(log_file).unlink(missing_ok=True)
        return 0
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGKILL)
    state_file(log_file).unlink(missing_ok=True)
    print(f"stopped tritonserver (pid {state['pid']})")
    return 0


def status(log_file: Path) -> int:
    state = _read_state(log_file)
    if state is None:
        print("not running")
        return 3
    ready = "ready" if is_ready(state["http_url"]) else "NOT ready"
    print(f"running (pid {state['pid']}), {ready}: HTTP {state['http_url']}, gRPC {state['grpc_url']}, "
          f"metrics {state['metrics_url']}; log {state['log']}")
    return 0 if ready == "ready" else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.action == "start":
        return start(args)
    return stop(args.log_file) if args.action == "stop" else status(args.log_file)


if __name__ == "__main__":
    raise SystemExit(main())
