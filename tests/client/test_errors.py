"""classify(): real tritonclient and socket exceptions -> the client's error kinds and messages."""
from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from client.errors import (
    InferenceFailed,
    InferenceTimeout,
    InvalidImage,
    ModelNotReady,
    ServerBusy,
    ServerUnreachable,
    classify,
)

URL, MODEL = "127.0.0.1:8000", "lesion_pipeline"


def _classify(err: BaseException):
    return classify(err, url=URL, model=MODEL, timeout_s=30)


@pytest.mark.parametrize(
    ("err", "kind", "message"),
    [
        (ConnectionRefusedError(111, "Connection refused"), ServerUnreachable, f"server unreachable at {URL}: connection refused"),
        (TimeoutError("timed out"), InferenceTimeout, f"no answer from {URL} within 30 s (model '{MODEL}')"),
        (
            InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED"),
            InferenceTimeout,
            "no answer from",
        ),
        (
            InferenceServerException("failed to connect to all addresses; Connection refused", status="StatusCode.UNAVAILABLE"),
            ServerUnreachable,
            "connection refused",
        ),
        (
            InferenceServerException(
                "in ensemble 'lesion_pipeline', IMAGE_BYTES: corrupt or truncated image: image file is truncated",
                status="400",
            ),
            InvalidImage,
            "server rejected the image: corrupt or truncated image: image file is truncated",
        ),
        (
            InferenceServerException("Request for unknown model: 'x' is not found", status="400"),
            ModelNotReady,
            f"model '{MODEL}' is not ready at {URL}",
        ),
        (InferenceServerException("Server is shutting down", status="503"), ServerBusy, "unavailable"),
        (
            InferenceServerException("unexpected inference output 'MASK' for model 'lesion_net'", status="400"),
            InferenceFailed,
            "unexpected inference output",
        ),
    ],
)
def test_classify(err: BaseException, kind: type, message: str) -> None:
    error = _classify(err)
    assert type(error) is kind
    assert message in str(error) and "\n" not in str(error)


def test_only_transient_errors_are_retried() -> None:
    assert ServerUnreachable("x").transient and ServerBusy("x").transient
    assert not any(e("x").transient for e in (InvalidImage, ModelNotReady, InferenceTimeout, InferenceFailed))
