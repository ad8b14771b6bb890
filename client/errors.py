"""Client errors, and the one place that maps tritonclient / socket failures onto them.

Each error carries a one-line message naming the cause, and the URL or model where relevant, so that
the CLI and the dashboard can print `str(err)` as is. `kind` is the short label used in metrics.
"""
from __future__ import annotations

from tritonclient.utils import InferenceServerException

from lesion.contract import IMAGE_BYTES


class ClientError(Exception):
    """Base class of every error LesionClient raises."""

    kind = "client_error"
    transient = False  # worth retrying with backoff


class ServerUnreachable(ClientError):
    kind = "server_unreachable"
    transient = True


class ModelNotReady(ClientError):
    kind = "model_not_ready"


class InferenceTimeout(ClientError):
    kind = "timeout"


class InvalidImage(ClientError):
    kind = "invalid_image"


class InferenceFailed(ClientError):
    kind = "inference_failed"


class ServerBusy(InferenceFailed):
    """503 / UNAVAILABLE from a running server (starting, overloaded): retried."""

    kind = "server_unavailable"
    transient = True


# Markers of lesion.preprocessing.ImageDecodeError messages, as relayed by the preprocess model.
_IMAGE_MARKERS = (
    "not a readable image",
    "corrupt or truncated image",
    "empty input",
    "megapixels, over the limit",
    "imagedecodeerror",
)
_MODEL_MARKERS = ("unknown model", "is not found", "not ready", "unavailable model", "is not loaded")


def _first_line(text: str) -> str:
    return " ".join(text.split())


def classify(err: BaseException, *, url: str, model: str, timeout_s: float) -> ClientError:
    """Turn an exception from tritonclient (HTTP or gRPC) or the socket layer into a ClientError."""
    if isinstance(err, ClientError):
        return err
    if isinstance(err, TimeoutError) or _is_gevent_timeout(err):
        return InferenceTimeout(f"no answer from {url} within {timeout_s:g} s (model '{model}')")
    if isinstance(err, OSError):
        reason = "connection refused" if isinstance(err, ConnectionRefusedError) else err.strerror or err
        return ServerUnreachable(f"server unreachable at {url}: {reason}")
    if isinstance(err, InferenceServerException):
        return _classify_server_error(err, url=url, model=model, timeout_s=timeout_s)
    return InferenceFailed(f"request to {url} (model '{model}') failed: {type(err).__name__}: {err}")


def _classify_server_error(
    err: InferenceServerException, *, url: str, model: str, timeout_s: float
) -> ClientError:
    status = str(err.status() or "")
    message = _first_line(err.message() or str(err))
    lowered = message.lower()
    if status == "StatusCode.DEADLINE_EXCEEDED" or "deadline exceeded" in lowered:
        return InferenceTimeout(f"no answer from {url} within {timeout_s:g} s (model '{model}')")
    if status == "StatusCode.UNAVAILABLE" and ("connect" in lowered or "refused" in lowered):
        reason = "connection refused" if "refused" in lowered else message
        return ServerUnreachable(f"server unreachable at {url}: {reason}")
    if any(marker in lowered for marker in _IMAGE_MARKERS):
        return InvalidImage(f"server rejected the image: {_image_reason(message)}")
    if any(marker in lowered for marker in _MODEL_MARKERS) or status in ("404", "StatusCode.NOT_FOUND"):
        return ModelNotReady(f"model '{model}' is not ready at {url}: {message}")
    if status in ("503", "StatusCode.UNAVAILABLE"):
        return ServerBusy(f"server at {url} is unavailable (model '{model}'): {message}")
    return InferenceFailed(f"inference failed at {url} (model '{model}'): {message}")


def _image_reason(message: str) -> str:
    """Strip Triton's prefix ("in ensemble 'lesion_pipeline', IMAGE_BYTES: "), keeping preprocess's message."""
    prefix = f"{IMAGE_BYTES.name}: "
    return message.rsplit(prefix, 1)[-1] if prefix in message else message


def _is_gevent_timeout(err: BaseException) -> bool:
    try:
        from gevent import Timeout
    except ImportError:  # pragma: no cover - gevent comes with tritonclient[http]
        return False
    return isinstance(err, Timeout)
