"""Python client of the `lesion_pipeline` Triton ensemble (HTTP or gRPC).

The client sends the encoded image bytes as they are (one BYTES tensor); decoding, EXIF rotation,
resizing and normalisation happen on the server, so every client sees the same preprocessing.

    with LesionClient("127.0.0.1:8000") as client:
        result = client.analyze(open("lesion.jpg", "rb").read(), name="lesion.jpg")
        print(result.melanoma_probability, result.lesion_area_fraction)

A LesionClient is not thread-safe (tritonclient's HTTP client is gevent based): use one per thread.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from client.errors import (
    ClientError,
    InferenceFailed,
    InferenceTimeout,
    InvalidImage,
    ModelNotReady,
    ServerBusy,
    ServerUnreachable,
    classify,
)
from client.metrics import ClientMetrics
from lesion.contract import (
    IMAGE_BYTES,
    MASK,
    MELANOMA_DECISION,
    MELANOMA_PROBABILITY,
    PIPELINE,
    SEBORRHEIC_KERATOSIS_DECISION,
    SEBORRHEIC_KERATOSIS_PROBABILITY,
)

__all__ = [
    "AnalysisResult",
    "LesionClient",
    "ClientError",
    "ServerUnreachable",
    "ModelNotReady",
    "InferenceTimeout",
    "InvalidImage",
    "InferenceFailed",
    "DEFAULT_URLS",
]

DEFAULT_URLS = {"http": "127.0.0.1:8000", "grpc": "127.0.0.1:8001"}
_BACKOFF_BASE_S = 0.25
_BACKOFF_MAX_S = 4.0


@dataclass
class AnalysisResult:
    image: str
    mask: np.ndarray  # H x W uint8, 0 or 255, at the original (EXIF-rotated) size
    melanoma_probability: float
    seborrheic_keratosis_probability: float
    melanoma_decision: bool
    seborrheic_keratosis_decision: bool
    latency_ms: float  # client round trip, retries included

    @property
    def lesion_area_fraction(self) -> float:
        return float(np.count_nonzero(self.mask)) / self.mask.size if self.mask.size else 0.0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "melanoma_probability": round(self.melanoma_probability, 6),
            "seborrheic_keratosis_probability": round(self.seborrheic_keratosis_probability, 6),
            "melanoma_decision": self.melanoma_decision,
            "seborrheic_keratosis_decision": self.seborrheic_keratosis_decision,
            "lesion_area_fraction": round(self.lesion_area_fraction, 6),
            "latency_ms": round(self.latency_ms, 3),
        }


class LesionClient:
    """Sends encoded images to the pipeline; maps every failure to a ClientError subclass."""

    def __init__(
        self,
        url: str | None = None,
        protocol: str = "http",
        model: str = PIPELINE.name,
        timeout_s: float = 30.0,
        retries: int = 2,
        metrics: ClientMetrics | None = None,
    ) -> None:
        if protocol not in DEFAULT_URLS:
            raise ValueError(f"protocol must be 'http' or 'grpc', not {protocol!r}")
        self.protocol = protocol
        self.url = (url or DEFAULT_URLS[protocol]).split("://", 1)[-1].rstrip("/")  # tritonclient wants host:port
        self.model = model
        self.timeout_s = timeout_s
        self.retries = retries
        self.metrics = metrics
        self._module = httpclient if protocol == "http" else grpcclient
        self._client = self._connect()

    def _connect(self):
        if self.protocol == "http":
            return httpclient.InferenceServerClient(
                self.url, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
            )
        return grpcclient.InferenceServerClient(self.url)

    # -- health -------------------------------------------------------------------------------
    def server_ready(self) -> bool:
        """True when the server answers and is ready; False when it is down or starting."""
        try:
            return bool(self._call("is_server_ready"))
        except ClientError:
            return False

    def model_ready(self) -> bool:
        try:
            return bool(self._call("is_model_ready", self.model))
        except ClientError:
            return False

    def server_metadata(self) -> dict[str, Any]:
        return _json_numbers(self._call("get_server_metadata", as_json=True))

    def check_ready(self) -> None:
        """Raise ServerUnreachable or ModelNotReady unless the model takes requests now.

        Transient failures (connection refused while the server starts, 503) are retried like
        analyze() does, so a CLI run started together with the server does not fail at once.
        """
        self._with_retries(self._check_ready)

    def _check_ready(self) -> None:
        if not self._rpc("is_server_ready"):
            raise ServerBusy(f"server at {self.url} is up but not ready yet")
        if not self._rpc("is_model_ready", self.model):
            raise ModelNotReady(
                f"model '{self.model}' is not ready at {self.url} (ready models: {self._ready_models()})"
            )

    def _ready_models(self) -> str:
        index = self._rpc("get_model_repository_index", as_json=True)
        models = index.get("models", []) if isinstance(index, dict) else index
        ready = sorted(m["name"] for m in models if m.get("state") == "READY")
        return ", ".join(ready) or "none"

    def model_statistics(self) -> dict[str, Any]:
        """Triton's statistics of this model (success/fail counts, queue and compute ns)."""
        return _json_numbers(self._call("get_inference_statistics", self.model, as_json=True))

    # -- inference ----------------------------------------------------------------------------
    def analyze(self, data: bytes, name: str = "") -> AnalysisResult:
        """Analyse one encoded image (JPEG/PNG/... bytes). Raises a ClientError subclass on failure."""
        if not data:
            self._record_error(InvalidImage.kind)
            raise InvalidImage("empty input: no image bytes to send")
        start = time.perf_counter()
        try:
            response = self._with_retries(self._infer, data)
            result = self._parse(response, name, latency_ms=0.0)
        except ClientError as err:
            self._record_error(err.kind)
            raise
        result.latency_ms = (time.perf_counter() - start) * 1e3
        if self.metrics is not None:
            self.metrics.record_success(self.model, self.protocol, result.latency_ms / 1e3)
        return result

    def _infer(self, data: bytes):
        tensor = self._module.InferInput(IMAGE_BYTES.name, [1, 1], IMAGE_BYTES.dtype)
        tensor.set_data_from_numpy(np.array([[data]], dtype=np.object_))
        outputs = [self._requested(spec.name) for spec in PIPELINE.outputs]
        return self._rpc("infer", self.model, [tensor], outputs=outputs)

    def _requested(self, name: str):
        if self.protocol == "http":
            return httpclient.InferRequestedOutput(name, binary_data=True)
        return grpcclient.InferRequestedOutput(name)

    def _parse(self, response, name: str, latency_ms: float) -> AnalysisResult:
        def out(spec) -> np.ndarray:
            value = response.as_numpy(spec.name)
            if value is None:
                raise InferenceFailed(f"model '{self.model}' at {self.url} returned no {spec.name}")
            return value

        mask = out(MASK)
        return AnalysisResult(
            image=name,
            mask=np.ascontiguousarray(mask.reshape(mask.shape[-2:]), dtype=np.uint8),
            melanoma_probability=float(out(MELANOMA_PROBABILITY).reshape(-1)[0]),
            seborrheic_keratosis_probability=float(out(SEBORRHEIC_KERATOSIS_PROBABILITY).reshape(-1)[0]),
            melanoma_decision=bool(out(MELANOMA_DECISION).reshape(-1)[0]),
            seborrheic_keratosis_decision=bool(out(SEBORRHEIC_KERATOSIS_DECISION).reshape(-1)[0]),
            latency_ms=latency_ms,
        )

    # -- plumbing -----------------------------------------------------------------------------
    def _rpc(self, method: str, *args, as_json: bool = False, **kwargs):
        """Call a tritonclient method; gRPC needs its deadline per call and JSON asked for explicitly
        (HTTP has its timeouts on the connection and answers dicts already)."""
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
            if as_json:
                kwargs["as_json"] = True
        return getattr(self._client, method)(*args, **kwargs)

    def _call(self, method: str, *args, **kwargs):
        """_rpc with every failure turned into a ClientError (no retries)."""
        return self._classified(self._rpc, method, *args, **kwargs)

    def _classified(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure becomes a ClientError
            raise classify(err, url=self.url, model=self.model, timeout_s=self.timeout_s) from err

    def _with_retries(self, fn, *args):
        """Retry transient failures (connection refused, 503/UNAVAILABLE) with exponential backoff."""
        for attempt in range(self.retries + 1):
            try:
                return self._classified(fn, *args)
            except ClientError as err:
                if not err.transient or attempt == self.retries:
                    raise
                time.sleep(min(_BACKOFF_BASE_S * 2**attempt, _BACKOFF_MAX_S))
        raise AssertionError("unreachable")

    def _record_error(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.record_error(self.model, self.protocol, kind)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LesionClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _json_numbers(value: Any) -> Any:
    """gRPC's JSON renders int64 counters as strings ("5"); make them ints as HTTP answers them."""
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
