"""Dashboard test fixtures: AppTest runs of the real app, settings pointing at the real server."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from streamlit.testing.v1 import AppTest

from tests.prometheus_server import running_prometheus

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def server_args(triton_server) -> list[str]:
    """Dashboard arguments for the real test server (exporter off: AppTest runs share one process)."""
    return ["--url", triton_server.http_url, "--metrics-url", triton_server.metrics_url, "--metrics-port", "0",
            "--timeout", "60"]


@pytest.fixture
def down_args(free_port) -> list[str]:
    """Arguments naming ports where nothing listens: the server-down case."""
    port = free_port()
    return ["--url", f"127.0.0.1:{port}", "--metrics-url", f"http://127.0.0.1:{port}/metrics",
            "--metrics-port", "0"]


@pytest.fixture
def run_app(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Run the app as `streamlit run dashboard/app.py -- <args>` would, on page `page`."""

    def run(args: list[str], page: str | None = None, timeout: float = 120) -> AppTest:
        monkeypatch.setattr(sys, "argv", [str(APP), *args])
        at = AppTest.from_file(str(APP), default_timeout=timeout).run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return run


@pytest.fixture(scope="session")
def prometheus(prometheus_binary, triton_server, tmp_path_factory, free_port) -> Iterator[str]:
    """A real Prometheus (Debian package) scraping the test Triton every second; yields its base URL."""
    target = urlsplit(triton_server.metrics_url)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "triton", "metrics_path": target.path,
                            "static_configs": [{"targets": [target.netloc]}]}],
    }
    with running_prometheus(prometheus_binary, config, tmp_path_factory.mktemp("prometheus"), free_port()) as url:
        deadline = time.monotonic() + 60
        while not _scraped(url):  # its first scrape of Triton done (discovery waits ~5 s)
            if time.monotonic() > deadline:
                pytest.fail("Prometheus never scraped the test Triton")
            time.sleep(0.5)
        yield url


def _scraped(url: str) -> bool:
    try:
        body = requests.get(f"{url}/api/v1/query", params={"query": 'up{job="triton"} == 1'}, timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return bool(body.get("data", {}).get("result"))
