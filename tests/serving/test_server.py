"""The real Triton server: contract, parity with in-process ONNX Runtime, real uploads, batching, bad input."""
from __future__ import annotations

import time
from urllib.request import urlopen

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from lesion.calibration import Calibration
from lesion.contract import MODELS, NETWORK, PIPELINE, POSTPROCESS
from lesion.preprocessing import mask_to_original_size, preprocess_bytes
from training.predict import OnnxPredictor

TIMEOUT_S = 120
CLIENTS = {"http": httpclient, "grpc": grpcclient}


def client(module, endpoints, **kwargs):
    if module is httpclient:
        return httpclient.InferenceServerClient(endpoints.http_url, network_timeout=TIMEOUT_S, **kwargs)
    return grpcclient.InferenceServerClient(endpoints.grpc_url)


def infer(module, endpoints, model: str, inputs: list):
    if module is httpclient:
        return client(module, endpoints).infer(model, inputs, timeout=TIMEOUT_S * 1_000_000)
    return client(module, endpoints).infer(model, inputs, client_timeout=TIMEOUT_S)


def bytes_input(module, data: list[bytes]):
    tensor = module.InferInput("IMAGE_BYTES", [len(data), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[d] for d in data], dtype=np.object_))
    return tensor


def image_input(module, batch: np.ndarray):
    tensor = module.InferInput(NETWORK.inputs[0].name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return tensor


def pipeline(module, endpoints, data: bytes) -> dict[str, np.ndarray]:
    result = infer(module, endpoints, PIPELINE.name, [bytes_input(module, [data])])
    return {spec.name: result.as_numpy(spec.name) for spec in PIPELINE.outputs}


@pytest.fixture(scope="module")
def onnx_runtime(model_repository) -> OnnxPredictor:
    return OnnxPredictor(model_repository / NETWORK.name / "1" / "model.onnx")


@pytest.fixture(scope="module")
def calibration(model_repository) -> Calibration:
    return Calibration.load(model_repository / POSTPROCESS.name / "1" / "calibration.json")


@pytest.mark.parametrize("protocol", CLIENTS)
def test_ready_and_metadata_match_the_contract(triton_server, protocol):
    module = CLIENTS[protocol]
    c = client(module, triton_server)
    assert c.is_server_live() and c.is_server_ready()
    for contract in MODELS:
        assert c.is_model_ready(contract.name)
        meta = c.get_model_metadata(contract.name)
        if module is grpcclient:
            meta = {"inputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in meta.inputs],
                    "outputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in meta.outputs]}
        for served, specs in ((meta["inputs"], contract.inputs), (meta["outputs"], contract.outputs)):
            assert {t["name"]: (t["datatype"], tuple(t["shape"])) for t in served} == {
                s.name: (s.dtype, (-1, *s.shape)) for s in specs
            }


@pytest.mark.parametrize("protocol", CLIENTS)
def test_network_outputs_equal_in_process_onnx_runtime(triton_server, onnx_runtime, isic_jpeg_bytes, protocol):
    module = CLIENTS[protocol]
    batch = np.stack([preprocess_bytes(data)[0] for data in isic_jpeg_bytes])
    result = infer(module, triton_server, NETWORK.name, [image_input(module, batch)])
    expected = onnx_runtime(batch)
    for spec in NETWORK.outputs:
        np.testing.assert_allclose(result.as_numpy(spec.name), expected[spec.name], atol=1e-5, rtol=0)


@pytest.mark.parametrize("protocol", CLIENTS)
def test_pipeline_equals_in_process_path(triton_server, onnx_runtime, calibration, isic_jpeg_bytes, protocol):
    module = CLIENTS[protocol]
    for data in isic_jpeg_bytes:
        served = pipeline(module, triton_server, data)
        image, size = preprocess_bytes(data)
        raw = onnx_runtime(image[None])
        mask = mask_to_original_size(raw["mask"][0, 0], size)
        assert served["MASK"].shape == (1, *size)
        assert np.mean(served["MASK"][0] == mask) > 0.999  # pixels at exactly 0.5 may round either way
        for label in ("melanoma", "seborrheic_keratosis"):
            probability = calibration.labels[label].probability(raw[label])
            np.testing.assert_allclose(served[f"{label.upper()}_PROBABILITY"], probability, atol=1e-5)
            assert served[f"{label.upper()}_DECISION"].dtype == np.bool_
            assert served[f"{label.upper()}_DECISION"].shape == (1, 1)


@pytest.mark.parametrize(
    "name", ["jpeg_1024x768", "jpeg_3000x2000", "jpeg_50mp", "png_rgba_1024x768", "jpeg_exif_rotated"]
)
def test_pipeline_returns_mask_at_original_size(triton_server, user_photos, name):
    data, (height, width) = user_photos[name]
    served = pipeline(httpclient, triton_server, data)
    assert served["MASK"].shape == (1, height, width)
    assert set(np.unique(served["MASK"])) <= {0, 255}
    assert 0.0 <= float(served["MELANOMA_PROBABILITY"][0, 0]) <= 1.0


def test_exif_rotation_is_honoured(triton_server, user_photos):
    upright = pipeline(httpclient, triton_server, user_photos["jpeg_1024x768"][0])["MASK"][0]
    rotated = pipeline(httpclient, triton_server, user_photos["jpeg_exif_rotated"][0])["MASK"][0]
    assert np.mean(upright == rotated) > 0.97  # the same photo, only stored rotated (JPEG noise aside)


def statistics(c, model: str) -> tuple[int, int]:
    stats = c.get_inference_statistics(model)["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


def statistics_counting(c, model: str, inferences: int, timeout_s: float = 10) -> tuple[int, int]:
    """Statistics once they count `inferences`: Triton records a request just after answering it."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = statistics(c, model)
        if counts[0] >= inferences or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def test_dynamic_batching_forms_batches(triton_server, isic_jpeg_bytes):
    c = client(httpclient, triton_server, concurrency=16)
    batch = preprocess_bytes(isic_jpeg_bytes[0])[0][None]
    before = statistics(c, NETWORK.name)
    pending = [c.async_infer(NETWORK.name, [image_input(httpclient, batch)]) for _ in range(32)]
    for request in pending:
        assert request.get_result(timeout=TIMEOUT_S).as_numpy("mask").shape == (1, 1, 256, 256)
    after = statistics_counting(c, NETWORK.name, before[0] + 32)
    inferences, executions = (now - was for now, was in zip(after, before))
    assert inferences == 32
    assert executions < inferences, f"{executions} executions for {inferences} inferences: no batch formed"


@pytest.mark.parametrize("protocol", CLIENTS)
@pytest.mark.parametrize("name", ["empty", "not_an_image", "truncated_jpeg", "bomb"])
def test_bad_upload_fails_alone_and_server_stays_ready(triton_server, bad_uploads, isic_jpeg_bytes, protocol, name):
    module = CLIENTS[protocol]
    data, words = bad_uploads[name]
    with pytest.raises(InferenceServerException, match=words):
        pipeline(module, triton_server, data)
    assert client(module, triton_server).is_server_ready()
    assert pipeline(module, triton_server, isic_jpeg_bytes[0])["MASK"].shape == (1, 256, 256)


def test_bad_upload_does_not_fail_requests_batched_with_it(triton_server, bad_uploads, isic_jpeg_bytes):
    c = client(httpclient, triton_server, concurrency=8)
    uploads = [bad_uploads["not_an_image"][0] if i % 2 else isic_jpeg_bytes[0] for i in range(8)]
    pending = [c.async_infer(PIPELINE.name, [bytes_input(httpclient, [data])]) for data in uploads]
    for i, request in enumerate(pending):
        if i % 2:
            with pytest.raises(InferenceServerException, match="not a readable image"):
                request.get_result(timeout=TIMEOUT_S)
        else:
            assert request.get_result(timeout=TIMEOUT_S).as_numpy("MASK").shape == (1, 256, 256)


@pytest.mark.parametrize("protocol", CLIENTS)
def test_unknown_model_is_named_in_the_error(triton_server, isic_jpeg_bytes, protocol):
    module = CLIENTS[protocol]
    with pytest.raises(InferenceServerException, match="lesion_pipline"):
        infer(module, triton_server, "lesion_pipline", [bytes_input(module, isic_jpeg_bytes[:1])])


def test_metrics_include_latency_summaries_and_cpu(triton_server, isic_jpeg_bytes):
    pipeline(httpclient, triton_server, isic_jpeg_bytes[0])
    with urlopen(triton_server.metrics_url, timeout=30) as response:
        text = response.read().decode()
    assert f'nv_inference_count{{model="{PIPELINE.name}",version="1"}}' in text
    assert "nv_inference_request_summary_us" in text  # --metrics-config=summary_latencies=true
    assert "nv_cpu_utilization" in text
