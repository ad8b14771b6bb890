"""Per-process and per-session resources of the Streamlit app (Streamlit reruns scripts on every click)."""
from __future__ import annotations

import streamlit as st

from client.lib import LesionClient
from client.metrics import ClientMetrics
from dashboard.settings import DashboardSettings


@st.cache_resource
def client_metrics() -> ClientMetrics:
    """One client-metrics registry per process, shared by every session's clients."""
    return ClientMetrics()


@st.cache_resource
def start_exporter(address: str, port: int) -> str:
    """Expose the client metrics once per process; returns "" or why it could not start."""
    try:
        client_metrics().serve(port, addr=address)
    except OSError as err:
        return f"client metrics exporter not started on {address}:{port}: {err.strerror or err}"
    return ""


def open_client(settings: DashboardSettings, model: str | None = None) -> LesionClient:
    """A fresh client for this script run; use it in a `with` block.

    Not cached across reruns: Streamlit runs each rerun in its own thread, and tritonclient's HTTP
    client (gevent) fails when used from a thread other than the one that made it.
    model None means the pipeline; "" a client whose statistics cover every model.
    """
    model = settings.model if model is None else model
    return LesionClient(
        settings.url,
        protocol=settings.protocol,
        model=model,
        timeout_s=settings.timeout_s,
        metrics=client_metrics() if model == settings.model else None,
    )
