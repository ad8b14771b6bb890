"""Monitor page: server and model health, and live charts of throughput, latency, queue and batching."""
from __future__ import annotations

import streamlit as st

from dashboard import monitor
from dashboard.health import check_health
from dashboard.resources import open_client
from dashboard.settings import DashboardSettings
from lesion.contract import MODELS

settings: DashboardSettings = st.session_state["settings"]
MODEL_NAMES = [settings.model] + [m.name for m in MODELS if m.name != settings.model]
LEGEND = {"requests_per_s": "successful", "failures_per_s": "failed", "latency_ms": "mean", "p50_ms": "p50",
          "p95_ms": "p95", "queue_ms": "queue", "batch_size": "batch size"}
st.title("Monitor")


def show_health() -> bool:
    health = check_health(lambda name: open_client(settings, name), MODEL_NAMES)
    if not health.ready:
        st.error(f"{health.error}. The page checks again every {settings.refresh_s:g} s and recovers by itself.")
        return False
    if health.all_ready:
        st.success(f"Server {health.url} ready: Triton {health.version}, all {len(health.models)} models ready")
    else:
        missing = ", ".join(m.name for m in health.models if not m.ready)
        st.warning(f"Server {health.url} (Triton {health.version}) is up, but not ready: {missing}")
    st.table(
        [
            {"model": m.name, "ready": "yes" if m.ready else "NO", "versions": ", ".join(m.versions),
             "successful requests": m.successes, "failed requests": m.failures}
            for m in health.models
        ]
    )
    return True


def series(model: str):
    """The chart data and a caption saying where it came from."""
    if settings.prometheus_url:
        source = monitor.PrometheusSource(settings.prometheus_url, model)
        step = max(settings.refresh_s, settings.window_s / 120)
        frame = source.fetch(settings.window_s, step)
        return frame, f"Prometheus at {settings.prometheus_url}, last {settings.window_s / 60:g} min"
    histories: dict = st.session_state.setdefault("_scrapes", {})
    history = histories.setdefault(model, monitor.ScrapeHistory(window_s=settings.window_s))
    history.add(monitor.scrape_triton(settings.metrics_url), model)
    caption = (f"Triton metrics at {settings.metrics_url}, scraped every {settings.refresh_s:g} s "
               "while this page is open (set a Prometheus URL for history)")
    return history.frame(), caption


def show_charts(model: str) -> None:
    try:
        frame, caption = series(model)
    except monitor.MetricsUnavailable as err:
        st.error(str(err))
        return
    st.caption(caption)
    if frame.empty:
        st.info("Collecting data: the charts fill in after the next refresh.")
        return
    left, right = st.columns(2)
    left.markdown("**Requests per second** (successful and failed)")
    left.line_chart(frame[["requests_per_s", "failures_per_s"]].rename(columns=LEGEND))
    right.markdown("**Latency, ms** (mean, p50, p95)")
    right.line_chart(frame[["latency_ms", "p50_ms", "p95_ms"]].rename(columns=LEGEND))
    left.markdown("**Queue time per request, ms**")
    left.line_chart(frame[["queue_ms"]].rename(columns=LEGEND))
    right.markdown("**Average batch size**")
    right.line_chart(frame[["batch_size"]].rename(columns=LEGEND))
    if frame[["p50_ms", "p95_ms"]].isna().all().all():
        st.caption("p50/p95 need Triton started with --metrics-config summary_latencies=true.")


model = st.selectbox("Model for the charts", MODEL_NAMES, index=MODEL_NAMES.index(settings.network_model)
                     if settings.network_model in MODEL_NAMES else 0)


@st.fragment(run_every=settings.refresh_s)
def live() -> None:
    if show_health():
        show_charts(model)


live()
