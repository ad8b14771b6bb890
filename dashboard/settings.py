"""Dashboard settings from the command line, falling back to environment variables, then defaults.

`streamlit run dashboard/app.py -- --url ...` passes everything after `--` to the script; the same
parser backs `python -m dashboard --help`.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PROTOCOLS = ("http", "grpc")


@dataclass(frozen=True)
class DashboardSettings:
    url: str = "127.0.0.1:8000"
    protocol: str = "http"
    model: str = "lesion_pipeline"
    network_model: str = "lesion_net"
    metrics_url: str = "http://127.0.0.1:8002/metrics"
    prometheus_url: str | None = None
    exporter_address: str = "127.0.0.1"
    exporter_port: int | None = 9102
    refresh_s: float = 5.0
    window_s: float = 600.0
    timeout_s: float = 30.0


_ENV = {
    "url": "LESION_TRITON_URL",
    "protocol": "LESION_PROTOCOL",
    "model": "LESION_MODEL",
    "network_model": "LESION_NETWORK_MODEL",
    "metrics_url": "LESION_TRITON_METRICS_URL",
    "prometheus_url": "LESION_PROMETHEUS_URL",
    "exporter_address": "LESION_METRICS_ADDRESS",
    "exporter_port": "LESION_METRICS_PORT",
    "refresh_s": "LESION_REFRESH_S",
    "window_s": "LESION_WINDOW_S",
    "timeout_s": "LESION_TIMEOUT_S",
}


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if environ is None else environ
    d = DashboardSettings()

    def default(field: str) -> str | None:
        value = env.get(_ENV[field])
        if value is not None:
            return value
        fallback = getattr(d, field)
        return None if fallback is None else str(fallback)

    p = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Streamlit dashboard for the lesion analysis server: an Analyse page (upload photos, "
        "see mask, probabilities and latency) and a Monitor page (health, throughput, latency). "
        "Every option also reads the environment variable named in its help.",
    )
    p.add_argument("--url", default=default("url"), help="Triton host:port for the client [LESION_TRITON_URL]")
    p.add_argument("--protocol", choices=PROTOCOLS, default=default("protocol"),
                   help="http (port 8000) or grpc (port 8001) [LESION_PROTOCOL]")
    p.add_argument("--model", default=default("model"), help="pipeline model the client calls [LESION_MODEL]")
    p.add_argument("--network-model", default=default("network_model"),
                   help="network model whose batching the monitor shows [LESION_NETWORK_MODEL]")
    p.add_argument("--metrics-url", default=default("metrics_url"),
                   help="Triton's Prometheus endpoint, scraped when no Prometheus is configured "
                   "[LESION_TRITON_METRICS_URL]")
    p.add_argument("--prometheus-url", default=default("prometheus_url"),
                   help="Prometheus base URL (e.g. http://127.0.0.1:9090); the monitor queries it when set "
                   "[LESION_PROMETHEUS_URL]")
    p.add_argument("--metrics-address", default=default("exporter_address"),
                   help="address of the dashboard's client-metrics exporter [LESION_METRICS_ADDRESS]")
    p.add_argument("--metrics-port", type=int, default=default("exporter_port"),
                   help="port of the client-metrics exporter; 0 disables it [LESION_METRICS_PORT]")
    p.add_argument("--refresh", type=float, default=default("refresh_s"),
                   help="seconds between monitor refreshes [LESION_REFRESH_S]")
    p.add_argument("--window", type=float, default=default("window_s"),
                   help="seconds of history the monitor charts show [LESION_WINDOW_S]")
    p.add_argument("--timeout", type=float, default=default("timeout_s"),
                   help="client timeout per request in seconds [LESION_TIMEOUT_S]")
    return p


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> DashboardSettings:
    """Settings from argv (without the program name) over the environment over the defaults."""
    parser = build_parser(environ)
    args = parser.parse_args(list(argv or []))
    if args.protocol not in PROTOCOLS:  # argparse checks choices on the command line, not in defaults
        parser.error(f"protocol must be one of {', '.join(PROTOCOLS)}, not {args.protocol!r} (LESION_PROTOCOL)")
    return DashboardSettings(
        url=args.url,
        protocol=args.protocol,
        model=args.model,
        network_model=args.network_model,
        metrics_url=args.metrics_url,
        prometheus_url=args.prometheus_url or None,
        exporter_address=args.metrics_address,
        exporter_port=args.metrics_port or None,
        refresh_s=args.refresh,
        window_s=args.window,
        timeout_s=args.timeout,
    )
