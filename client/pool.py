"""Typed client settings and a per-thread pool of LesionClients (the CLI and the load generator).

tritonclient's HTTP client is gevent based and must not be shared between threads, so each worker
thread gets its own LesionClient, built lazily from the same settings and closed together at the end.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from client.lib import LesionClient
from client.metrics import ClientMetrics
from lesion.contract import PIPELINE


@dataclass(frozen=True)
class ClientSettings:
    url: str | None = None  # None: 127.0.0.1:8000 for http, 127.0.0.1:8001 for grpc
    protocol: str = "http"
    model: str = PIPELINE.name
    timeout_s: float = 30.0
    retries: int = 2

    def connect(self, metrics: ClientMetrics | None = None) -> LesionClient:
        return LesionClient(
            url=self.url,
            protocol=self.protocol,
            model=self.model,
            timeout_s=self.timeout_s,
            retries=self.retries,
            metrics=metrics,
        )


class ClientPool:
    """`pool.client()` returns the calling thread's LesionClient; `close()` closes them all."""

    def __init__(self, settings: ClientSettings, metrics: ClientMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._local = threading.local()
        self._clients: list[LesionClient] = []
        self._lock = threading.Lock()

    def client(self) -> LesionClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.settings.connect(self.metrics)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
