"""Dashboard test fixtures: AppTest runs of the real app, settings pointing at the real server."""
from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_args(endpoints) -> list[str]:
    """Dashboard arguments for a real server (exporter off: AppTest runs share one process)."""
    return ["--url", endpoints.http_url, "--metrics-url", endpoints.metrics_url, "--metrics-port", "0",
            "--timeout", "60"]


@pytest.fixture
def down_args() -> list[str]:
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


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]
