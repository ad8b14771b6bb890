import io
import json

import numpy as np
import pytest
from PIL import Image

from client import render
from client.lib import InvalidImage, LesionClient
from dashboard import analyse
from lesion.preprocessing import decode_image


@pytest.fixture(scope="module")
def clients(triton_server):
    pipeline = LesionClient(triton_server.http_url, timeout_s=60)
    everything = LesionClient(triton_server.http_url, model="", timeout_s=60)
    yield pipeline, everything
    pipeline.close()
    everything.close()


@pytest.fixture(scope="module")
def analysis(clients, isic_jpeg_bytes) -> analyse.Analysis:
    return analyse.analyse(*clients, isic_jpeg_bytes[2], "ISIC_melanoma.jpg")


def test_analysis_returns_a_full_size_mask_and_probabilities(analysis, isic_jpeg_bytes):
    height, width = decode_image(isic_jpeg_bytes[2]).original_size
    assert analysis.result.mask.shape == (height, width)
    assert set(np.unique(analysis.result.mask)) <= {0, 255}
    assert 0.0 <= analysis.result.melanoma_probability <= 1.0


def test_latency_split_comes_from_the_servers_statistics(analysis):
    latency = analysis.latency
    assert latency.requests_in_window == 1
    assert 0 < latency.server_ms <= latency.round_trip_ms
    # The composing models' queue and compute times fit inside the pipeline's request time.
    assert latency.queue_ms >= 0 and latency.compute_ms > 0
    assert latency.queue_ms + latency.compute_ms <= latency.server_ms * 1.05
    assert latency.outside_server_ms == pytest.approx(latency.round_trip_ms - latency.server_ms)


def test_a_bad_upload_raises_the_clients_error_and_the_next_one_still_works(clients, isic_jpeg_bytes):
    with pytest.raises(InvalidImage, match="not a readable image|corrupt"):
        analyse.analyse(*clients, b"this is not a photo", "notes.jpg")
    assert analyse.analyse(*clients, isic_jpeg_bytes[0], "ok.jpg").result.mask.size > 0


def test_overlay_blends_only_lesion_pixels(analysis, isic_jpeg_bytes):
    rgb = decode_image(isic_jpeg_bytes[2]).rgb
    mask = render.fit_mask(analysis.result.mask, rgb.shape[:2]) > 0
    assert mask.any() and (~mask).any(), "need lesion and background pixels to check the overlay"
    assert np.array_equal(render.overlay_mask(rgb, analysis.result.mask, 0.0), rgb)
    full = render.overlay_mask(rgb, analysis.result.mask, 1.0)
    assert np.all(full[mask] == render.OVERLAY_COLOUR)
    assert np.array_equal(full[~mask], rgb[~mask])


def test_downloads_are_a_png_mask_and_json(analysis):
    png = Image.open(io.BytesIO(analyse.mask_png(analysis.result.mask)))
    assert png.format == "PNG" and png.mode == "L"
    assert np.array_equal(np.asarray(png), analysis.result.mask)
    body = json.loads(analyse.result_json(analysis))
    assert body["name"] == "ISIC_melanoma.jpg"
    assert body["melanoma_probability"] == pytest.approx(analysis.result.melanoma_probability, abs=1e-6)
    assert body["latency"]["server_ms"] == pytest.approx(analysis.latency.server_ms)
    assert analyse.download_stem("dir/ISIC 0001.JPG") == "ISIC_0001"


def test_statistics_deltas_are_averaged_over_the_requests_they_cover():
    def stats(count, ns):
        return {"model_stats": [
            {"name": "pipe", "version": "1", "inference_stats": {"success": {"count": count, "ns": ns}}},
            {"name": "net", "version": "1", "inference_stats": {
                "success": {"count": str(count), "ns": str(ns)},  # gRPC JSON spells int64 as strings
                "queue": {"count": count, "ns": ns // 4}, "compute_infer": {"count": count, "ns": ns // 2}}},
        ]}

    latency = analyse.latency_breakdown(500.0, stats(1, 4_000_000), stats(3, 404_000_000), "pipe")
    assert latency.requests_in_window == 2
    assert latency.server_ms == pytest.approx(200.0)
    assert latency.queue_ms == pytest.approx(50.0)
    assert latency.compute_ms == pytest.approx(100.0)


def test_big_photos_and_masks_are_shrunk_for_display_only():
    photo = np.zeros((6000, 8000, 3), np.uint8)
    mask = np.zeros((6000, 8000), np.uint8)
    mask[:3000] = 255
    assert analyse.for_display(photo).shape == (768, 1024, 3)
    small = analyse.for_display(mask)
    assert small.shape == (768, 1024) and set(np.unique(small)) == {0, 255}
    assert analyse.for_display(photo[:500, :700]).shape == (500, 700, 3)
