"""The app's pages through Streamlit's AppTest, against the real Triton server."""
import io

import pytest
from PIL import Image

ANALYSE, MONITOR = "views/analyse.py", "views/monitor.py"


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def test_analyse_page_shows_mask_probabilities_latency_and_downloads(run_app, server_args, isic_jpeg_bytes):
    at = run_app(server_args)
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    at.file_uploader[0].set_value([("melanoma.jpg", isic_jpeg_bytes[2], "image/jpeg"),
                                   ("keratosis.jpg", isic_jpeg_bytes[3], "image/jpeg")]).run()
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert [h.value for h in at.subheader] == ["melanoma.jpg", "keratosis.jpg"]
    captions = [c for image in at.image for c in image.captions]
    assert captions.count("photo with lesion mask") == 2 and sum(c.startswith("mask, ") for c in captions) == 2
    labels = [m.label for m in at.metric]
    assert labels.count("Melanoma") == 2 and labels.count("Seborrheic keratosis") == 2
    assert all(m.value.endswith("%") for m in at.metric if m.label != "Lesion area")
    assert [m.value for m in at.metric if m.label == "Lesion area"][0].endswith("% of the photo")
    assert any("decision threshold" in t for t in texts(at, "markdown"))
    latency_parts = at.table[0].value["latency"].tolist()
    assert latency_parts[:4] == ["client round trip", "server (pipeline request)", "server queue", "server compute"]
    assert [b.label for b in at.get("download_button")] == ["Mask (PNG)", "Result (JSON)"] * 2


def test_reruns_reuse_the_analysis_instead_of_asking_the_server_again(run_app, server_args, isic_jpeg_bytes):
    at = run_app(server_args)
    at.file_uploader[0].set_value(("a.jpg", isic_jpeg_bytes[0], "image/jpeg")).run()
    cached = dict(at.session_state["_analyses"])
    at.sidebar.slider[0].set_value(0.9).run()  # opacity change: a rerun
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert at.session_state["_analyses"] == cached


def test_bad_uploads_get_a_message_and_the_good_one_is_still_analysed(run_app, server_args, isic_jpeg_bytes):
    at = run_app(server_args)
    at.file_uploader[0].set_value([("notes.jpg", b"not an image at all", "image/jpeg"),
                                   ("empty.png", b"", "image/png"),
                                   ("truncated.jpg", isic_jpeg_bytes[1][:1500], "image/jpeg"),
                                   ("good.jpg", isic_jpeg_bytes[0], "image/jpeg")]).run()
    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 3
    assert errors[0].startswith("notes.jpg: ") and "not a readable image" in errors[0]
    assert errors[1].startswith("empty.png: ") and "empty" in errors[1]
    assert errors[2].startswith("truncated.jpg: ")
    assert [m.label for m in at.metric].count("Melanoma") == 1


def test_synthetic_example_needs_no_upload(run_app, server_args):
    at = run_app(server_args)
    at.sidebar.checkbox[0].check().run()
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert [h.value for h in at.subheader] == ["synthetic_example.jpg"]


def test_server_down_is_said_plainly_on_both_pages(run_app, down_args, isic_jpeg_bytes):
    at = run_app(down_args)
    assert not at.exception
    assert any("is not reachable" in e for e in texts(at, "error"))
    at.file_uploader[0].set_value(("a.jpg", isic_jpeg_bytes[0], "image/jpeg")).run()
    assert not at.exception
    assert any(e.startswith("a.jpg: server unreachable") for e in texts(at, "error"))
    assert [b.label for b in at.button] == ["Try again"]
    at.switch_page(MONITOR).run()
    assert not at.exception
    assert any("is not reachable" in e and "recovers by itself" in e for e in texts(at, "error"))


def test_wrong_model_name_is_reported(run_app, server_args):
    at = run_app([*server_args, "--model", "no_such_model"])
    assert not at.exception
    assert any("model 'no_such_model' is not ready" in w for w in texts(at, "warning"))
    at.switch_page(MONITOR).run()
    assert not at.exception
    assert any(w.endswith("is up, but not ready: no_such_model") for w in texts(at, "warning"))
    health = at.table[0].value.set_index("model")["ready"]
    assert health["no_such_model"] == "NO" and health["lesion_pipeline"] == "yes"


def test_monitor_page_shows_health_and_charts(run_app, server_args, isic_jpeg_bytes):
    at = run_app(server_args, page=MONITOR)
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert any("ready" in s and "Triton" in s for s in texts(at, "success"))
    health = at.table[0].value
    assert set(health["model"]) == {"lesion_pipeline", "preprocess", "lesion_net", "postprocess"}
    assert (health["ready"] == "yes").all()
    assert any("Collecting data" in i for i in texts(at, "info"))
    at.run()  # the next refresh: two scrapes give the first point of every chart
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert len(at.get("vega_lite_chart")) == 4


@pytest.fixture(scope="module")
def fifty_megapixel_jpeg(isic_jpeg_bytes) -> bytes:
    photo = Image.open(io.BytesIO(isic_jpeg_bytes[0])).convert("RGB").resize((8660, 5774))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_a_fifty_megapixel_photo_is_analysed_and_shown_at_screen_size(run_app, server_args, fifty_megapixel_jpeg):
    at = run_app(server_args)
    at.file_uploader[0].set_value(("camera.jpg", fifty_megapixel_jpeg, "image/jpeg")).run()
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    captions = [c for image in at.image for c in image.captions]
    assert "mask, 8660 x 5774" in captions


def test_grpc_protocol_gives_the_same_page(run_app, triton_server, isic_jpeg_bytes):
    at = run_app(["--url", triton_server.grpc_url, "--protocol", "grpc", "--metrics-port", "0",
                  "--metrics-url", triton_server.metrics_url])
    at.file_uploader[0].set_value(("a.jpg", isic_jpeg_bytes[0], "image/jpeg")).run()
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert "server compute" in at.table[0].value["latency"].tolist()


def test_monitor_page_charts_from_prometheus_when_configured(run_app, server_args, prometheus):
    at = run_app([*server_args, "--prometheus-url", prometheus], page=MONITOR)
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    assert any(c.startswith(f"Prometheus at {prometheus}") for c in texts(at, "caption"))
    assert len(at.get("vega_lite_chart")) == 4


def test_monitor_page_says_when_prometheus_is_down(run_app, server_args, free_port):
    url = f"http://127.0.0.1:{free_port()}"
    at = run_app([*server_args, "--prometheus-url", url], page=MONITOR)
    assert not at.exception
    assert any(e.startswith(f"cannot query Prometheus at {url}") for e in texts(at, "error"))


def test_invalid_arguments_give_a_message_not_a_traceback(run_app):
    at = run_app(["--protocol", "ftp"])
    assert not at.exception
    assert texts(at, "error") == ["The dashboard's arguments are invalid: see the terminal, or "
                                  "`python -m dashboard --help`."]


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_exif_rotated_jpeg_and_png_with_alpha_are_shown_upright(run_app, server_args, isic_jpeg_bytes):
    photo = Image.open(io.BytesIO(isic_jpeg_bytes[1])).convert("RGB").resize((320, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 320 x 200, displayed rotated: 200 wide, 320 high
    rotated = _encoded(photo, "JPEG", exif=exif.tobytes())
    translucent = photo.convert("RGBA")
    translucent.putalpha(100)
    at = run_app(server_args)
    at.file_uploader[0].set_value([("rotated.jpg", rotated, "image/jpeg"),
                                   ("alpha.png", _encoded(translucent, "PNG"), "image/png")]).run()
    assert not at.exception and not at.error, (at.exception, texts(at, "error"))
    captions = [c for image in at.image for c in image.captions if c.startswith("mask, ")]
    assert captions == ["mask, 200 x 320", "mask, 320 x 200"]
