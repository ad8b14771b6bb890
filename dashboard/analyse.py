"""Analyse-page logic: run one upload through the client, split its latency, render and export results.

The server-side split comes from Triton's per-model statistics read before and after the request:
the pipeline's own request time, and the queue and compute times of the models it is composed of.
With other clients busy at the same moment the deltas cover their requests too, so they are averaged
over the number of requests the delta holds (shown beside them).
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, astuple, dataclass

import numpy as np
from PIL import Image

from client.lib import AnalysisResult, ClientError, LesionClient

DISPLAY_MAX_SIDE = 1024

@dataclass(frozen=True)
class ModelTimes:
    """Cumulative counters of one model, from Triton's inference statistics."""

    count: int = 0
    request_ns: int = 0
    queue_ns: int = 0
    compute_ns: int = 0  # input + infer + output

    def plus(self, other: ModelTimes) -> ModelTimes:
        return ModelTimes(*(a + b for a, b in zip(astuple(self), astuple(other))))

    def minus(self, other: ModelTimes) -> ModelTimes:
        return ModelTimes(*(a - b for a, b in zip(astuple(self), astuple(other))))

@dataclass(frozen=True)
class LatencyBreakdown:
    round_trip_ms: float
    server_ms: float | None = None  # the pipeline's request time inside Triton
    queue_ms: float | None = None  # summed over the composing models
    compute_ms: float | None = None
    requests_in_window: int = 0  # pipeline requests the statistics delta covered

    @property
    def outside_server_ms(self) -> float | None:
        """Client encoding, HTTP/gRPC transfer and decoding: round trip minus server time."""
        return None if self.server_ms is None else max(self.round_trip_ms - self.server_ms, 0.0)

@dataclass(frozen=True)
class Analysis:
    name: str
    result: AnalysisResult
    latency: LatencyBreakdown

def model_times(statistics: Mapping) -> dict[str, ModelTimes]:
    """Triton statistics JSON (HTTP, or gRPC as_json with string counts) -> times per model name."""
    times: dict[str, ModelTimes] = {}
    for entry in statistics.get("model_stats", []):
        stats = entry.get("inference_stats", {})

        def ns(key: str) -> int:
            return int(stats.get(key, {}).get("ns", 0))

        current = ModelTimes(
            count=int(stats.get("success", {}).get("count", 0)),
            request_ns=ns("success"),
            queue_ns=ns("queue"),
            compute_ns=ns("compute_input") + ns("compute_infer") + ns("compute_output"),
        )
        times[entry["name"]] = times.get(entry["name"], ModelTimes()).plus(current)  # summed over versions
    return times

def latency_breakdown(
    round_trip_ms: float, before: Mapping, after: Mapping, pipeline: str
) -> LatencyBreakdown:
    start, end = model_times(before), model_times(after)
    deltas = {name: t.minus(start.get(name, ModelTimes())) for name, t in end.items()}
    own = deltas.get(pipeline)
    if own is None or own.count <= 0:
        return LatencyBreakdown(round_trip_ms=round_trip_ms)
    parts = [d for name, d in deltas.items() if name != pipeline and d.count > 0] or [own]
    per_request = 1e-6 / own.count
    return LatencyBreakdown(
        round_trip_ms=round_trip_ms,
        server_ms=own.request_ns * per_request,
        queue_ms=sum(d.queue_ns for d in parts) * per_request,
        compute_ms=sum(d.compute_ns for d in parts) * per_request,
        requests_in_window=own.count,
    )

def analyse(client: LesionClient, stats_client: LesionClient, data: bytes, name: str) -> Analysis:
    """Analyse one upload; raises the client's errors (ClientError subclasses) unchanged.

    `stats_client` is a client bound to model "" (Triton then reports every model's statistics).
    """
    before = _statistics(stats_client)
    result = client.analyze(data, name)
    after = _statistics_after(stats_client, before, client.model) if before is not None else None
    if before is None or after is None:
        latency = LatencyBreakdown(round_trip_ms=result.latency_ms)
    else:
        latency = latency_breakdown(result.latency_ms, before, after, client.model)
    return Analysis(name=name, result=result, latency=latency)

def _statistics_after(stats_client: LesionClient, before: Mapping, pipeline: str, wait_s: float = 1.0) -> Mapping | None:
    """Statistics once they count our request: Triton records them just after sending the response."""
    counted = model_times(before).get(pipeline, ModelTimes()).count
    deadline = time.monotonic() + wait_s
    while True:
        after = _statistics(stats_client)
        if after is None or time.monotonic() > deadline:
            return after
        if model_times(after).get(pipeline, ModelTimes()).count > counted:
            return after
        time.sleep(0.02)

def _statistics(stats_client: LesionClient) -> Mapping | None:
    """All models' statistics, or None when the server will not give them (the analysis goes on)."""
    try:
        return stats_client.model_statistics()
    except ClientError:  # statistics are a nice-to-have beside the result itself
        return None

def for_display(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """Shrink a photo (bilinear) or a mask (nearest) so its longer side is at most max_side pixels.

    A 50-megapixel photo is shown at screen size; the downloads keep the full-size mask.
    """
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.NEAREST if image.ndim == 2 else Image.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, resample))

def mask_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()

def result_json(analysis: Analysis) -> str:
    """The downloadable report: the client's result fields plus the latency split."""
    latency = asdict(analysis.latency) | {"outside_server_ms": analysis.latency.outside_server_ms}
    body = {"name": analysis.name, **analysis.result.to_json_dict(), "latency": latency}
    return json.dumps(body, indent=2, default=float)

def download_stem(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "image"
