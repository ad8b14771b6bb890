"""Server and model health for the Monitor page, read through the client library."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from client.lib import ClientError, LesionClient


@dataclass(frozen=True)
class ModelHealth:
    name: str
    ready: bool
    versions: tuple[str, ...] = ()
    successes: int = 0
    failures: int = 0


@dataclass(frozen=True)
class ServerHealth:
    url: str
    ready: bool
    version: str = ""
    models: tuple[ModelHealth, ...] = ()
    error: str = ""

    @property
    def all_ready(self) -> bool:
        return self.ready and all(m.ready for m in self.models)


def check_health(client_for: Callable[[str], LesionClient], models: Sequence[str]) -> ServerHealth:
    """Ask the server about itself and each model; never raises (the page shows what failed).

    `client_for(name)` opens a client bound to model `name` ("" means all models, for statistics);
    each is closed after use.
    """
    with client_for("") as server:
        url = server.url
        if not server.server_ready():
            return ServerHealth(url=url, ready=False, error=f"Triton server at {url} is not reachable or not ready")
        try:
            meta = server.server_metadata()
            counts = _counts(server.model_statistics())
        except ClientError as err:
            return ServerHealth(url=url, ready=False, error=str(err))
    return ServerHealth(
        url=url,
        ready=True,
        version=str(meta.get("version", "")),
        models=tuple(_model(name, _ready(client_for, name), counts) for name in models),
    )


def _ready(client_for: Callable[[str], LesionClient], name: str) -> bool:
    with client_for(name) as client:
        return client.model_ready()


def _counts(stats: dict) -> dict[str, list[tuple[str, int, int]]]:
    out: dict[str, list[tuple[str, int, int]]] = {}
    for entry in stats.get("model_stats", []):
        inference = entry.get("inference_stats", {})
        out.setdefault(entry["name"], []).append(
            (
                str(entry.get("version", "")),
                int(inference.get("success", {}).get("count", 0)),
                int(inference.get("fail", {}).get("count", 0)),
            )
        )
    return out


def _model(name: str, ready: bool, counts: dict[str, list[tuple[str, int, int]]]) -> ModelHealth:
    rows = counts.get(name, [])
    return ModelHealth(
        name=name,
        ready=ready,
        versions=tuple(v for v, _, _ in rows),
        successes=sum(s for _, s, _ in rows),
        failures=sum(f for _, _, f in rows),
    )
