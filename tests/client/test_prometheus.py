"""The Prometheus config and rules: promtool checks, and a real Prometheus scraping the real Triton
and a client exporter, read back through its HTTP query API."""
from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from client.lib import InvalidImage, LesionClient
from client.metrics import DASHBOARD_METRICS_PORT, ClientMetrics
from tests.prometheus_server import running_prometheus

CONFIG_DIR = Path(__file__).resolve().parents[2] / "docker" / "prometheus"
CONFIG, RULES = CONFIG_DIR / "prometheus.yml", CONFIG_DIR / "rules.yml"


def test_promtool_check_config(promtool: str) -> None:
    proc = subprocess.run([promtool, "check", "config", str(CONFIG)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_check_rules(promtool: str) -> None:
    proc = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rules_unit_tests(promtool: str) -> None:
    """rules_test.yml feeds synthetic series and expects the recorded values and the alerts."""
    proc = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=CONFIG_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_config_scrapes_triton_and_the_dashboard_exporter() -> None:
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}
    assert jobs == {"triton": ["triton:8002"], "dashboard": [f"dashboard:{DASHBOARD_METRICS_PORT}"]}


def local_config(triton_metrics: str, exporter: str) -> dict:
    """The shipped config with local targets, 1 s intervals and the rules by absolute path."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    targets = {"triton": triton_metrics, "dashboard": exporter}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


@pytest.fixture
def client_exporter() -> Iterator[tuple[ClientMetrics, str]]:
    metrics = ClientMetrics()
    server, thread = metrics.serve(0)
    yield metrics, f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def prometheus(prometheus_binary, triton_server, client_exporter, free_port, tmp_path) -> Iterator[str]:
    """A real Prometheus on a free port scraping the Triton fixture and the client exporter."""
    triton_metrics = triton_server.metrics_url.removeprefix("http://").removesuffix("/metrics")
    config = local_config(triton_metrics, client_exporter[1])
    with running_prometheus(prometheus_binary, config, tmp_path, free_port()) as url:
        yield url


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def query(prometheus: str, expr: str) -> float:
    """The single value of an instant query; NaN when there is no series."""
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else math.nan


def test_prometheus_sees_triton_and_client_series_move(prometheus, triton_server, client_exporter, isic_images) -> None:
    metrics, _ = client_exporter
    pipeline = '{model="lesion_pipeline"}'
    with LesionClient(triton_server.http_url, metrics=metrics) as client:
        client.analyze(isic_images[0].read_bytes())  # the client series exist from here on
        wait_for(lambda: query(prometheus, "sum(lesion_client_images_analysed_total)") == 1, 30, "first scrape")
        wait_for(lambda: query(prometheus, 'sum(up{job=~"triton|dashboard"})') == 2, 30, "both targets up")
        served = query(prometheus, f"sum(nv_inference_request_success{pipeline})")
        for path in isic_images[1:4]:
            client.analyze(path.read_bytes())
        with pytest.raises(InvalidImage):
            client.analyze(b"not an image")

    def moved() -> bool:
        return (
            query(prometheus, "sum(lesion_client_images_analysed_total)") == 4
            and query(prometheus, "sum(lesion_client_requests_total)") == 5
            and query(prometheus, 'sum(lesion_client_errors_total{kind="invalid_image"})') == 1
            and query(prometheus, "sum(lesion_client_request_duration_seconds_count)") == 4
            and query(prometheus, f"sum(nv_inference_request_success{pipeline})") >= served + 3
            and query(prometheus, f"sum(nv_inference_request_failure{pipeline})") >= 1
        )

    wait_for(moved, 60, "the request, error and latency series to move")
    # the recording rules evaluate on the scraped series
    wait_for(lambda: query(prometheus, "max(lesion_client:request_duration_seconds:p95_rate5m)") > 0, 30, "p95 rule")
    wait_for(
        lambda: query(prometheus, f"model:nv_inference_request_duration_us:mean_rate5m{pipeline}") > 0, 30,
        "mean request duration rule",
    )
    assert query(prometheus, f"model:nv_inference_queue_duration_us:mean_rate5m{pipeline}") >= 0
