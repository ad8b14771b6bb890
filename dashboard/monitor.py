"""Monitor-page data: time series of throughput, latency, queue time, batch size and failures.

Two sources give the same DataFrame (index: timestamp; columns: SERIES):
- Prometheus' query API over the last window, when a Prometheus URL is configured;
- otherwise Triton's own /metrics endpoint, scraped on each refresh and differenced against the
  previous scrape kept in the Streamlit session.
p50/p95 come from Triton's latency summary (`--metrics-config summary_latencies=true`); without it
those columns stay empty.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import pandas as pd
import requests
from prometheus_client.parser import text_string_to_metric_families

SERIES = (
    "requests_per_s",
    "failures_per_s",
    "latency_ms",
    "p50_ms",
    "p95_ms",
    "queue_ms",
    "batch_size",
)

_COUNTERS = {
    "nv_inference_request_success": "success",
    "nv_inference_request_failure": "failure",
    "nv_inference_count": "inferences",
    "nv_inference_exec_count": "executions",
    "nv_inference_request_duration_us": "request_us",
    "nv_inference_queue_duration_us": "queue_us",
}
_SUMMARY = "nv_inference_request_summary_us"


class MetricsUnavailable(RuntimeError):
    """The metrics endpoint or Prometheus could not be read; the message says which and why."""


@dataclass
class ModelCounters:
    success: float = 0.0
    failure: float = 0.0
    inferences: float = 0.0
    executions: float = 0.0
    request_us: float = 0.0
    queue_us: float = 0.0
    quantiles_us: dict[str, float] = field(default_factory=dict)  # "0.5" -> microseconds


@dataclass(frozen=True)
class Scrape:
    time: float
    models: dict[str, ModelCounters]


def parse_triton_metrics(text: str, at: float | None = None) -> Scrape:
    """Triton's Prometheus text -> counters per model (summed over versions)."""
    models: dict[str, ModelCounters] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            model = sample.labels.get("model")
            if model is None:
                continue
            counters = models.setdefault(model, ModelCounters())
            name = sample.name.removesuffix("_total")
            if name in _COUNTERS:
                attr = _COUNTERS[name]
                setattr(counters, attr, getattr(counters, attr) + sample.value)
            elif name == _SUMMARY and "quantile" in sample.labels and not math.isnan(sample.value):
                q = sample.labels["quantile"]
                counters.quantiles_us[q] = max(counters.quantiles_us.get(q, 0.0), sample.value)
    return Scrape(time=time.time() if at is None else at, models=models)


def scrape_triton(metrics_url: str, timeout_s: float = 5.0) -> Scrape:
    try:
        response = requests.get(metrics_url, timeout=timeout_s)
        response.raise_for_status()
    except requests.RequestException as err:
        raise MetricsUnavailable(f"cannot read Triton metrics at {metrics_url}: {err}") from err
    return parse_triton_metrics(response.text)


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
    return numerator / denominator * scale if denominator > 0 else math.nan


def difference(previous: Scrape, current: Scrape, model: str) -> dict[str, float]:
    """One point of every series for `model` between two scrapes (NaN where undefined)."""
    a = previous.models.get(model, ModelCounters())
    b = current.models.get(model, ModelCounters())
    seconds = current.time - previous.time
    d = {f.name: getattr(b, f.name) - getattr(a, f.name) for f in fields(ModelCounters) if f.name != "quantiles_us"}
    if any(v < 0 for v in d.values()):  # the server restarted: counters began again from zero
        d = {f.name: getattr(b, f.name) for f in fields(ModelCounters) if f.name != "quantiles_us"}
    return {
        "requests_per_s": _ratio(d["success"], seconds),
        "failures_per_s": _ratio(d["failure"], seconds),
        "latency_ms": _ratio(d["request_us"], d["success"], 1e-3),
        "p50_ms": b.quantiles_us.get("0.5", math.nan) * 1e-3,
        "p95_ms": b.quantiles_us.get("0.95", math.nan) * 1e-3,
        "queue_ms": _ratio(d["queue_us"], d["success"], 1e-3),
        "batch_size": _ratio(d["inferences"], d["executions"]),
    }


@dataclass
class ScrapeHistory:
    """Differenced points for one model, kept in the session between refreshes."""

    window_s: float = 600.0
    last: Scrape | None = None
    points: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def add(self, scrape: Scrape, model: str) -> None:
        if self.last is not None and scrape.time > self.last.time:
            self.points.append((scrape.time, difference(self.last, scrape, model)))
        self.last = scrape
        cutoff = scrape.time - self.window_s
        self.points = [p for p in self.points if p[0] >= cutoff]

    def frame(self) -> pd.DataFrame:
        return _frame([t for t, _ in self.points], [p for _, p in self.points])


def _frame(times: list[float], rows: list[dict[str, float]]) -> pd.DataFrame:
    index = pd.to_datetime(times, unit="s", utc=True).rename("time")
    return pd.DataFrame(rows, index=index, columns=list(SERIES), dtype=float)


@dataclass(frozen=True)
class PrometheusSource:
    """Range queries against Prometheus' HTTP API for one model."""

    url: str
    model: str
    rate_window: str = "1m"
    timeout_s: float = 5.0

    def queries(self) -> dict[str, str]:
        sel = f'{{model="{self.model}"}}'

        def rate(metric: str) -> str:
            return f"sum(rate({metric}{sel}[{self.rate_window}]))"

        success = rate("nv_inference_request_success")
        return {
            "requests_per_s": success,
            "failures_per_s": rate("nv_inference_request_failure"),
            "latency_ms": f"{rate('nv_inference_request_duration_us')} / {success} / 1000",
            "p50_ms": f'max({_SUMMARY}{{model="{self.model}",quantile="0.5"}}) / 1000',
            "p95_ms": f'max({_SUMMARY}{{model="{self.model}",quantile="0.95"}}) / 1000',
            "queue_ms": f"{rate('nv_inference_queue_duration_us')} / {success} / 1000",
            "batch_size": f"{rate('nv_inference_count')} / {rate('nv_inference_exec_count')}",
        }

    def fetch(self, window_s: float, step_s: float, now: float | None = None) -> pd.DataFrame:
        end = time.time() if now is None else now
        columns: dict[str, pd.Series] = {}
        for column, query in self.queries().items():
            columns[column] = self._series(query, end - window_s, end, step_s)
        frame = pd.DataFrame(columns).reindex(columns=list(SERIES)).astype(float)
        frame.index.name = "time"
        return frame.sort_index()

    def _series(self, query: str, start: float, end: float, step_s: float) -> pd.Series:
        params = {"query": query, "start": start, "end": end, "step": max(step_s, 1.0)}
        try:
            response = requests.get(f"{self.url.rstrip('/')}/api/v1/query_range", params=params, timeout=self.timeout_s)
            body = response.json()
        except (requests.RequestException, ValueError) as err:
            raise MetricsUnavailable(f"cannot query Prometheus at {self.url}: {err}") from err
        if body.get("status") != "success":
            raise MetricsUnavailable(f"Prometheus at {self.url} refused a query: {body.get('error', body)}")
        result = body["data"]["result"]
        if not result:
            return pd.Series(dtype=float)
        times, values = zip(*result[0]["values"])
        index = pd.to_datetime([float(t) for t in times], unit="s", utc=True)
        return pd.Series([float(v) for v in values], index=index, dtype=float)
