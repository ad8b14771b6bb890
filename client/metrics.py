"""Client-side Prometheus metrics, in their own registry (not the process-global one).

The server's view (queue, compute) comes from Triton's :8002/metrics; this is the user's view: the
end-to-end round trip including encoding, network and the whole ensemble. The dashboard exposes it
on port 9102, the load generator on --metrics-port.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

DASHBOARD_METRICS_PORT = 9102
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ClientMetrics:
    """Latency histogram, requests and errors by kind, images analysed."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.latency = Histogram(
            "lesion_client_request_duration_seconds",
            "End-to-end latency of one analysed image as seen by the client (successful requests).",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.requests = Counter(
            "lesion_client_requests",
            "Analysis requests sent, successful or not (retries not counted separately).",
            ["model", "protocol"],
            registry=self.registry,
        )
        self.errors = Counter(
            "lesion_client_errors",
            "Failed analysis requests by kind (server_unreachable, invalid_image, timeout, ...).",
            ["model", "protocol", "kind"],
            registry=self.registry,
        )
        self.images = Counter(
            "lesion_client_images_analysed",
            "Images analysed successfully.",
            ["model", "protocol"],
            registry=self.registry,
        )

    def record_success(self, model: str, protocol: str, latency_s: float) -> None:
        self.requests.labels(model, protocol).inc()
        self.images.labels(model, protocol).inc()
        self.latency.labels(model, protocol).observe(latency_s)

    def record_error(self, model: str, protocol: str, kind: str) -> None:
        self.requests.labels(model, protocol).inc()
        self.errors.labels(model, protocol, kind).inc()

    def serve(self, port: int, addr: str = "127.0.0.1"):
        """Expose the registry at http://addr:port/metrics; returns (server, thread)."""
        return start_http_server(port, addr=addr, registry=self.registry)
