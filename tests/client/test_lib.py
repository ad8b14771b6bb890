"""LesionClient against a real Triton server serving the real pipeline, over HTTP and gRPC."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from client.lib import (
    AnalysisResult,
    InferenceTimeout,
    InvalidImage,
    LesionClient,
    ModelNotReady,
    ServerUnreachable,
)
from client.metrics import ClientMetrics

JSON_KEYS = {
    "image",
    "melanoma_probability",
    "seborrheic_keratosis_probability",
    "melanoma_decision",
    "seborrheic_keratosis_decision",
    "lesion_area_fraction",
    "latency_ms",
}


@pytest.fixture(params=["http", "grpc"])
def client(request, triton_server):
    url = triton_server.http_url if request.param == "http" else triton_server.grpc_url
    with LesionClient(url, protocol=request.param, timeout_s=60) as client:
        yield client


def _preprocess_requests(client: LesionClient) -> int:
    """Requests the preprocess step ran (an image it rejects still counts: its error is a response)."""
    with LesionClient(client.url, protocol=client.protocol, model="preprocess") as stats_client:
        return stats_client.model_statistics()["model_stats"][0]["inference_stats"]["success"]["count"]


def test_analyze_real_image(client: LesionClient, isic_bytes: bytes) -> None:
    result = client.analyze(isic_bytes, name="lesion.jpg")
    assert isinstance(result, AnalysisResult)
    assert result.image == "lesion.jpg"
    assert result.mask.shape == Image.open(io.BytesIO(isic_bytes)).size[::-1]
    assert result.mask.dtype == np.uint8 and set(np.unique(result.mask)) <= {0, 255}
    assert 0.0 <= result.melanoma_probability <= 1.0
    assert 0.0 <= result.seborrheic_keratosis_probability <= 1.0
    assert isinstance(result.melanoma_decision, bool) and isinstance(result.seborrheic_keratosis_decision, bool)
    assert result.lesion_area_fraction == pytest.approx(np.count_nonzero(result.mask) / result.mask.size)
    assert result.latency_ms > 0
    assert set(result.to_json_dict()) == JSON_KEYS


def test_http_and_grpc_agree(triton_server, isic_images) -> None:
    data = isic_images[1].read_bytes()
    with LesionClient(triton_server.http_url) as http, LesionClient(triton_server.grpc_url, protocol="grpc") as grpc:
        a, b = http.analyze(data), grpc.analyze(data)
    assert a.melanoma_probability == pytest.approx(b.melanoma_probability, abs=1e-6)
    assert a.seborrheic_keratosis_probability == pytest.approx(b.seborrheic_keratosis_probability, abs=1e-6)
    np.testing.assert_array_equal(a.mask, b.mask)


def test_mask_follows_exif_rotation(client: LesionClient, exif_rotated_jpeg: bytes) -> None:
    assert client.analyze(exif_rotated_jpeg).mask.shape == (256, 200)


def test_png_with_alpha(client: LesionClient, rgba_png: bytes) -> None:
    assert client.analyze(rgba_png).mask.shape == (180, 300)


def test_50_megapixel_photo(triton_server, isic_images) -> None:
    image = Image.open(isic_images[0]).resize((8660, 5773))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    with LesionClient(triton_server.http_url, timeout_s=120) as client:
        result = client.analyze(buffer.getvalue())
    assert result.mask.shape == (5773, 8660)


@pytest.mark.parametrize("kind", ["truncated", "text"])
def test_invalid_image_is_rejected_once(client: LesionClient, bad_files, kind: str) -> None:
    client.retries = 3
    before = _preprocess_requests(client)
    with pytest.raises(InvalidImage, match="corrupt or truncated image|not a readable image"):
        client.analyze(bad_files[kind].read_bytes())
    deadline = time.monotonic() + 10  # Triton records a request just after answering it
    while _preprocess_requests(client) < before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _preprocess_requests(client) == before + 1  # the server saw one request: no retry


def test_empty_input_is_refused_before_sending(client: LesionClient) -> None:
    with pytest.raises(InvalidImage, match="empty"):
        client.analyze(b"")


def test_wrong_model_name(triton_server, isic_bytes: bytes) -> None:
    for url, protocol in ((triton_server.http_url, "http"), (triton_server.grpc_url, "grpc")):
        with LesionClient(url, protocol=protocol, model="no_such_model") as client:
            assert client.server_ready() and not client.model_ready()
            with pytest.raises(ModelNotReady, match=f"'no_such_model'.*{url}"):
                client.analyze(isic_bytes)
            with pytest.raises(ModelNotReady, match="ready models: .*lesion_pipeline"):
                client.check_ready()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_down_is_retried_with_backoff(protocol: str, dead_url: str, isic_bytes: bytes) -> None:
    url = dead_url
    timings = {}
    for retries in (0, 2):
        with LesionClient(url, protocol=protocol, retries=retries) as client:
            assert not client.server_ready()
            start = time.perf_counter()
            with pytest.raises(ServerUnreachable, match=f"server unreachable at {url}"):
                client.analyze(isic_bytes)
            timings[retries] = time.perf_counter() - start
    assert timings[0] < 0.5
    assert timings[2] >= 0.75  # backoff 0.25 s then 0.5 s


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_timeout(triton_server, protocol: str, isic_bytes: bytes) -> None:
    url = triton_server.http_url if protocol == "http" else triton_server.grpc_url
    with LesionClient(url, protocol=protocol, timeout_s=0.001) as client:
        with pytest.raises(InferenceTimeout, match=f"no answer from {url} within 0.001 s"):
            client.analyze(isic_bytes)


def test_metrics_are_recorded(triton_server, isic_images, bad_files) -> None:
    metrics = ClientMetrics()
    labels = {"model": "lesion_pipeline", "protocol": "http"}
    with LesionClient(triton_server.http_url, metrics=metrics) as client:
        for path in isic_images[:2]:
            client.analyze(path.read_bytes())
        with pytest.raises(InvalidImage):
            client.analyze(bad_files["text"].read_bytes())
    value = metrics.registry.get_sample_value
    assert value("lesion_client_requests_total", labels) == 3
    assert value("lesion_client_images_analysed_total", labels) == 2
    assert value("lesion_client_errors_total", {**labels, "kind": "invalid_image"}) == 1
    assert value("lesion_client_request_duration_seconds_count", labels) == 2
    assert value("lesion_client_request_duration_seconds_sum", labels) > 0


def test_statistics_and_metadata(client: LesionClient, isic_bytes: bytes) -> None:
    client.check_ready()
    client.analyze(isic_bytes)
    stats = client.model_statistics()["model_stats"][0]
    assert stats["name"] == "lesion_pipeline"
    assert stats["inference_stats"]["success"]["count"] >= 1
    assert isinstance(stats["inference_stats"]["queue"]["ns"], int)
    assert client.server_metadata()["name"] == "triton"


def test_decompression_bomb_is_refused(client: LesionClient, isic_bytes: bytes) -> None:
    """A real JPEG whose header claims 12000 x 12000 pixels: refused from the header, not decoded."""
    sof = isic_bytes.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    bomb = isic_bytes[: sof + 5] + (12000).to_bytes(2, "big") * 2 + isic_bytes[sof + 9 :]
    with pytest.raises(InvalidImage, match="144 megapixels, over the limit of 100"):
        client.analyze(bomb)
