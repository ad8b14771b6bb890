"""The dashboard served by `python -m dashboard` (streamlit run), loaded in a real headless Chromium.

Set LESION_UPDATE_SCREENSHOTS=1 to write docs/dashboard-analyse.png and docs/dashboard-monitor.png.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from client.lib import LesionClient
from serving.triton import Ports, ServerConfig, TritonServer

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1500,1400")


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("chromium / chromedriver not installed (bash scripts/install-system-deps.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def start_dashboard(tmp_path_factory, free_port) -> Iterator[Callable[[list[str]], str]]:
    """Start `python -m dashboard ARGS` on a free port of 127.0.0.1; gives its base URL."""
    processes: list[subprocess.Popen] = []

    def start(args: list[str]) -> str:
        port = free_port()
        log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
        process = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), *args],
                                   cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_stcore/health", timeout=2).ok
    except requests.RequestException:
        return False


def wait_for_text(browser, *needles: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = browser.find_element(By.TAG_NAME, "body").text
        if all(n in text for n in needles):
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"page never showed {[n for n in needles if n not in text]}; it shows:\n{text}")
        time.sleep(0.5)


def screenshot(browser, name: str, tmp_path: Path) -> Path:
    folder = DOCS if os.environ.get("LESION_UPDATE_SCREENSHOTS") == "1" else tmp_path
    path = folder / name
    browser.save_screenshot(str(path))
    return path


@pytest.fixture(scope="module")
def exporter_port(free_port) -> int:
    return free_port()


@pytest.fixture(scope="module")
def dashboard_url(start_dashboard, server_args, exporter_port) -> str:
    args = list(server_args)
    args[args.index("--metrics-port") + 1] = str(exporter_port)
    return start_dashboard([*args, "--refresh", "2"])


def test_analyse_page_renders_an_uploaded_photo(browser, dashboard_url, exporter_port, isic_samples, tmp_path):
    photo = next(s for s in isic_samples if s.diagnosis == 1).image_path  # a melanoma
    browser.get(dashboard_url)
    wait_for_text(browser, "Analyse dermoscopic photos", "Dermoscopic photos")
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo))
    text = wait_for_text(browser, photo.name, "Melanoma", "Seborrheic keratosis", "Lesion area",
                         "client round trip", "Mask (PNG)", "Result (JSON)")
    assert "Traceback" not in text and "not reachable" not in text
    images = browser.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")
    assert len(images) == 2 and all(img.get_property("naturalWidth") > 0 for img in images)
    metrics = requests.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=5).text
    assert 'lesion_client_images_analysed_total{model="lesion_pipeline",protocol="http"} 1.0' in metrics
    assert screenshot(browser, "dashboard-analyse.png", tmp_path).stat().st_size > 10_000


def test_monitor_page_renders_health_and_live_charts(browser, dashboard_url, triton_server, isic_jpeg_bytes, tmp_path):
    browser.get(f"{dashboard_url}/monitor")
    wait_for_text(browser, "Monitor", "all 4 models ready", "lesion_pipeline", "lesion_net")
    stop = threading.Event()

    def traffic() -> None:
        with LesionClient(triton_server.http_url, timeout_s=60) as client:
            while not stop.is_set():
                client.analyze(isic_jpeg_bytes[0])

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        wait_for_text(browser, "Requests per second", "Average batch size")
        time.sleep(8)  # a few refreshes with traffic, so the charts have lines
    finally:
        stop.set()
        worker.join(timeout=120)
    charts = browser.find_elements(By.CSS_SELECTOR, "[data-testid=stVegaLiteChart]")
    assert len(charts) == 4
    assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
    assert screenshot(browser, "dashboard-monitor.png", tmp_path).stat().st_size > 10_000


def test_monitor_page_recovers_by_itself_when_the_server_comes_up(browser, start_dashboard, model_repository, tmp_path):
    ports = Ports.free()
    url = start_dashboard(["--url", f"127.0.0.1:{ports.http}", "--metrics-url",
                           f"http://127.0.0.1:{ports.metrics}/metrics", "--metrics-port", "0", "--refresh", "2"])
    browser.get(f"{url}/monitor")
    wait_for_text(browser, "is not reachable", "recovers by itself")
    server = TritonServer(ServerConfig(repository=model_repository, ports=ports, log_file=tmp_path / "triton.log"))
    try:
        server.start()
        server.wait_ready(timeout_s=180)
        text = wait_for_text(browser, "all 4 models ready", timeout=60)  # no reload: the fragment refreshes
        assert "is not reachable" not in text
    finally:
        server.stop()
