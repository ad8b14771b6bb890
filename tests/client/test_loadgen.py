"""The load generator: a short bounded sweep against the real server."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from client.loadgen import SweepConfig, load_images, sweep
from client.metrics import ClientMetrics
from client.pool import ClientSettings


def test_sweep_counts_and_records_metrics(triton_server, isic_root) -> None:
    images = load_images(isic_root / "ISIC-2017_Training_Data", limit=3)
    metrics = ClientMetrics()
    config = SweepConfig(levels=(1, 2), requests_per_level=5, duration_s=60, warmup_requests=1)
    results = sweep(ClientSettings(triton_server.grpc_url, "grpc"), images, config, metrics, show_progress=False)
    assert [r.concurrency for r in results] == [1, 2]
    for r in results:
        assert (r.requests, r.ok, r.errors) == (5, 5, 0)
        assert r.images_per_s > 0 and 0 < r.p50_ms <= r.p95_ms <= r.p99_ms
    labels = {"model": "lesion_pipeline", "protocol": "grpc"}
    assert metrics.registry.get_sample_value("lesion_client_images_analysed_total", labels) == 11  # + warm-up


def test_duration_bounds_a_level(triton_server, isic_root) -> None:
    images = load_images(isic_root / "ISIC-2017_Training_Data", limit=2)
    config = SweepConfig(levels=(1,), requests_per_level=10_000, duration_s=1.0, warmup_requests=0)
    (result,) = sweep(ClientSettings(triton_server.http_url), images, config, show_progress=False)
    assert 0 < result.requests < 10_000
    assert result.wall_s < 1.0 + 5 * result.p99_ms / 1e3  # stops after the request in flight


def test_cli_prints_table_and_writes_csv(triton_server, isic_root, tmp_path) -> None:
    out = tmp_path / "sweep.csv"
    command = [
        sys.executable, "-m", "client.loadgen", "--images", str(isic_root / "ISIC-2017_Training_Data"),
        "--max-images", "4", "--levels", "1,2", "--requests", "4", "--duration", "60", "--warmup", "1",
        "--url", triton_server.http_url, "--csv", str(out), "--metrics-port", "0",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "images/s" in proc.stdout and "p99 ms" in proc.stdout and "client metrics at http://127.0.0.1:" in proc.stdout
    rows = list(csv.DictReader(out.open()))
    assert [(r["concurrency"], r["ok"], r["errors"]) for r in rows] == [("1", "4", "0"), ("2", "4", "0")]


def test_cli_server_down(dead_url, isic_root, tmp_path) -> None:
    command = [sys.executable, "-m", "client.loadgen", "--images", str(isic_root / "ISIC-2017_Training_Data"),
               "--url", dead_url, "--csv", str(tmp_path / "x.csv")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"server unreachable at {dead_url}" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("levels", ["0", "a,b"])
def test_cli_rejects_bad_levels(levels, tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "client.loadgen", "--levels", levels, "--images", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--levels" in proc.stderr
