"""python -m serving start|status|stop: a real server, a clear message for a taken port or a broken model."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from lesion.contract import NETWORK
from serving.triton import PROJECT_ROOT, Ports, is_ready


def serving(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serving", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def port_args(ports: Ports) -> list[str]:
    return ["--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port", str(ports.metrics)]


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "triton.log"
    yield path
    serving("stop", "--log-file", str(path))  # never leave a server behind, even when a test fails


def test_start_status_stop(model_repository, log_file):
    ports = Ports.free()
    started = serving("start", "--repository", str(model_repository), "--log-file", str(log_file), *port_args(ports))
    assert started.returncode == 0, started.stderr
    assert f"log: {log_file}" in started.stdout and f"HTTP 127.0.0.1:{ports.http}" in started.stdout
    assert is_ready(f"127.0.0.1:{ports.http}")
    status = serving("status", "--log-file", str(log_file))
    assert status.returncode == 0 and "ready" in status.stdout
    again = serving("start", "--repository", str(model_repository), "--log-file", str(log_file), *port_args(ports))
    assert again.returncode == 0 and "already running and ready" in again.stdout  # `make serve` twice is fine
    other = serving("start", "--repository", str(model_repository), "--log-file", str(log_file),
                    *port_args(Ports.free()))
    assert other.returncode == 1 and "already runs" in other.stderr
    stopped = serving("stop", "--log-file", str(log_file))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not is_ready(f"127.0.0.1:{ports.http}")
    assert serving("status", "--log-file", str(log_file)).returncode == 3


def test_taken_port_is_a_clear_error(model_repository, log_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free = Ports.free()
        ports = Ports(free.http, free.grpc, taken.getsockname()[1])
        result = serving("start", "--repository", str(model_repository), "--log-file", str(log_file),
                         *port_args(ports))
    assert result.returncode == 1
    assert f"port {ports.metrics} (metrics) on 127.0.0.1 is already in use" in result.stderr


def test_model_that_fails_to_load_is_named(model_repository, tmp_path, log_file):
    broken = tmp_path / "broken_repository"
    shutil.copytree(model_repository / NETWORK.name, broken / NETWORK.name,
                    ignore=shutil.ignore_patterns("model.onnx"))
    result = serving("start", "--repository", str(broken), "--log-file", str(log_file), *port_args(Ports.free()))
    assert result.returncode == 1
    assert "exited with code" in result.stderr and "model.onnx is missing" in result.stderr
    assert str(log_file) in result.stderr
