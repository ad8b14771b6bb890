"""Dashboard test fixtures: AppTest runs of the real app, settings pointing at the real server."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def server_args(triton_server) -> list[str]:
    """Dashboard arguments for the real test server (exporter off: AppTest runs share one process)."""
    return ["--url", triton_server.http_url, "--metrics-url", triton_server.metrics_url, "--metrics-port", "0",
            "--timeout", "60"]


@pytest.fixture
def down_args(free_tcp_port_factory) -> list[str]:
    """Arguments naming ports where nothing listens: the server-down case."""
    port = free_tcp_port_factory()
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
def prometheus(triton_server, tmp_path_factory, free_tcp_port_factory) -> Iterator[str]:
    """A real Prometheus (Debian package) scraping the test Triton every second; yields its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (bash scripts/install-system-deps.sh installs it)")
    folder = tmp_path_factory.mktemp("prometheus")
    target = urlsplit(triton_server.metrics_url)
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: triton, metrics_path: '{target.path}', static_configs: [{{targets: ['{target.netloc}']}}]}}\n"
    )
    url = f"http://127.0.0.1:{free_tcp_port_factory()}"
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address={url.removeprefix('http://')}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _scraped(url):  # ready, and its first scrape of Triton done (discovery waits ~5 s)
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prometheus did not start; log: {folder / 'prometheus.log'}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _scraped(url: str) -> bool:
    try:
        body = requests.get(f"{url}/api/v1/query", params={"query": 'up{job="triton"} == 1'}, timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return bool(body.get("data", {}).get("result"))
