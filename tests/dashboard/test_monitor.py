import math
import time

import pytest

from client.lib import InvalidImage, LesionClient
from dashboard import monitor


@pytest.fixture(scope="module")
def client(triton_server):
    with LesionClient(triton_server.http_url, timeout_s=60) as c:
        yield c


def _scrape_until_counted(metrics_url: str, before: monitor.Scrape, model: str, counter: str, at_least: float,
                         timeout_s: float = 10) -> monitor.Scrape:
    """Scrape until `counter` of `model` grew by `at_least` since `before`.

    Triton's counters can lag the response the client already holds: a scrape taken at once in CI counted 2 of 3
    requests (here 40 of 40 immediate scrapes counted, so the lag is rare and comes with load).
    """
    def grown(scrape: monitor.Scrape) -> float:
        counters = [s.models.get(model, monitor.ModelCounters()) for s in (before, scrape)]
        return getattr(counters[1], counter) - getattr(counters[0], counter)

    deadline = time.monotonic() + timeout_s
    while True:
        after = monitor.scrape_triton(metrics_url)
        if grown(after) >= at_least or time.monotonic() > deadline:
            return after
        time.sleep(0.2)


def test_two_scrapes_difference_to_the_requests_sent(triton_server, client, isic_jpeg_bytes):
    before = monitor.scrape_triton(triton_server.metrics_url)
    for data in isic_jpeg_bytes[:3]:
        client.analyze(data)
    after = _scrape_until_counted(triton_server.metrics_url, before, "lesion_pipeline", "success", 3)
    seconds = after.time - before.time
    pipeline = monitor.difference(before, after, "lesion_pipeline")
    assert pipeline["requests_per_s"] * seconds == pytest.approx(3)
    assert pipeline["failures_per_s"] == 0
    assert 0 < pipeline["latency_ms"] < seconds * 1000
    assert 0 < pipeline["p50_ms"] <= pipeline["p95_ms"]
    network = monitor.difference(before, after, "lesion_net")
    assert network["batch_size"] >= 1 and network["queue_ms"] >= 0
    assert set(after.models) >= {"lesion_pipeline", "lesion_net", "preprocess", "postprocess"}


def test_failed_requests_show_as_failures(triton_server, client):
    before = monitor.scrape_triton(triton_server.metrics_url)
    with pytest.raises(InvalidImage):
        client.analyze(b"not an image", "notes.jpg")
    after = _scrape_until_counted(triton_server.metrics_url, before, "lesion_pipeline", "failure", 1)
    point = monitor.difference(before, after, "lesion_pipeline")
    # Triton 2.51 counts one failed ensemble request twice (reason OTHER, in its statistics too).
    assert point["failures_per_s"] * (after.time - before.time) in (pytest.approx(1), pytest.approx(2))
    assert point["requests_per_s"] == 0 and math.isnan(point["latency_ms"])


def test_history_keeps_the_window_and_survives_a_server_restart():
    def scrape(at, success):
        return monitor.Scrape(at, {"m": monitor.ModelCounters(success=success, request_us=success * 1000)})

    history = monitor.ScrapeHistory(window_s=10)
    for at, success in [(0, 100), (5, 110), (10, 120), (16, 3)]:  # restart between 10 and 16
        history.add(scrape(at, success), "m")
    frame = history.frame()
    assert list(frame["requests_per_s"]) == [2.0, 0.5]  # the point at t=5 fell out of the window
    assert list(frame["latency_ms"]) == [1.0, 1.0]


def test_an_unreachable_metrics_endpoint_gives_a_clear_error(free_port):
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with pytest.raises(monitor.MetricsUnavailable, match="cannot read Triton metrics at " + url):
        monitor.scrape_triton(url, timeout_s=2)


def test_prometheus_source_charts_what_triton_served(prometheus, client, isic_jpeg_bytes):
    for _ in range(3):
        for data in isic_jpeg_bytes[:2]:
            client.analyze(data)
        time.sleep(1.0)
    frame = _fetch_until(monitor.PrometheusSource(prometheus, "lesion_pipeline", rate_window="10s"),
                         lambda f: f["requests_per_s"].max() > 0)
    assert list(frame.columns) == list(monitor.SERIES)
    assert frame["requests_per_s"].max() > 0
    assert frame["latency_ms"].dropna().gt(0).all()
    assert frame["p95_ms"].max() > 0
    network = _fetch_until(monitor.PrometheusSource(prometheus, "lesion_net", rate_window="10s"),
                           lambda f: f["batch_size"].notna().any())
    assert network["batch_size"].dropna().ge(1).all() and network["batch_size"].notna().any()


def _fetch_until(source, condition, timeout_s: float = 60):
    """Prometheus needs a scrape or two after the requests before every series shows them."""
    deadline = time.monotonic() + timeout_s
    while True:
        frame = source.fetch(window_s=60, step_s=1)
        if condition(frame) or time.monotonic() > deadline:
            return frame
        time.sleep(1)


def test_prometheus_errors_are_reported_not_raised_raw(prometheus, free_port):
    with pytest.raises(monitor.MetricsUnavailable, match="refused a query"):
        monitor.PrometheusSource(prometheus, 'bad"label').fetch(60, 1)
    with pytest.raises(monitor.MetricsUnavailable, match="cannot query Prometheus"):
        monitor.PrometheusSource(f"http://127.0.0.1:{free_port()}", "m").fetch(60, 1)
