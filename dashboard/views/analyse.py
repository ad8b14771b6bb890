"""Analyse page: upload photos, see mask, probabilities, lesion area and latency; download results."""
from __future__ import annotations

import hashlib

import streamlit as st

from client.lib import ClientError
from client.render import overlay_mask
from dashboard import analyse as logic
from dashboard.example import EXAMPLE_NAME, synthetic_lesion_jpeg
from dashboard.resources import open_client
from dashboard.settings import DashboardSettings
from lesion.contract import LABELS
from lesion.preprocessing import ImageDecodeError, decode_image

IMAGE_TYPES = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"]
LABEL_TITLES = {"melanoma": "Melanoma", "seborrheic_keratosis": "Seborrheic keratosis"}

settings: DashboardSettings = st.session_state["settings"]
st.title("Analyse dermoscopic photos")
st.caption(f"Server {settings.url} ({settings.protocol}), model `{settings.model}`")


@st.fragment(run_every=settings.refresh_s)
def server_banner() -> None:
    with open_client(settings) as client:
        server_ready = client.server_ready()
        model_ready = server_ready and client.model_ready()
    if not server_ready:
        st.error(f"Triton server at {settings.url} is not reachable. Analysis is unavailable until it is back; "
                 f"this page checks again every {settings.refresh_s:g} s.")
    elif not model_ready:
        st.warning(f"The server is up but model '{settings.model}' is not ready (loading or failed to load).")


def cached_analysis(name: str, data: bytes) -> logic.Analysis | str:
    """Analyse once per (file content, server, model); reruns (e.g. the opacity slider) reuse it."""
    key = (hashlib.sha1(data).hexdigest(), name, settings.url, settings.protocol, settings.model)
    cache: dict = st.session_state.setdefault("_analyses", {})
    if key not in cache:
        try:
            with st.spinner(f"Analysing {name} ..."), open_client(settings) as client, \
                    open_client(settings, "") as stats_client:
                cache[key] = logic.analyse(client, stats_client, data, name)
        except ClientError as err:
            return str(err)  # not cached: the next rerun tries again (the server may be back)
    return cache[key]


def show_probability(label: str, probability: float, decision: bool) -> None:
    verdict = ":red[**above the decision threshold**]" if decision else ":green[below the decision threshold]"
    st.metric(LABEL_TITLES[label], f"{probability:.1%}")
    st.progress(min(max(probability, 0.0), 1.0))
    st.markdown(verdict)


def show_latency(latency: logic.LatencyBreakdown) -> None:
    rows = {"client round trip": latency.round_trip_ms}
    if latency.server_ms is not None:
        rows |= {
            "server (pipeline request)": latency.server_ms,
            "server queue": latency.queue_ms,
            "server compute": latency.compute_ms,
            "outside the server (transfer, encoding)": latency.outside_server_ms,
        }
    st.table({"latency": list(rows), "ms": [f"{v:.1f}" for v in rows.values()]})
    if latency.requests_in_window > 1:
        st.caption(f"Server times averaged over {latency.requests_in_window} requests served meanwhile.")


def show_result(index: int, name: str, data: bytes, opacity: float) -> None:
    st.subheader(name)
    outcome = cached_analysis(name, data)
    if isinstance(outcome, str):
        st.error(f"{name}: {outcome}")
        st.button("Try again", key=f"retry-{index}", help="Failed analyses are sent again on the next run.")
        return
    result = outcome.result
    try:
        rgb = decode_image(data).rgb
    except ImageDecodeError as err:  # the server read it, Pillow here did not: show the mask only
        st.warning(f"{name}: cannot display the photo here ({err})")
        rgb = None
    photo, mask, numbers = st.columns([2, 2, 2])
    if rgb is not None:
        overlay = overlay_mask(logic.for_display(rgb), result.mask, opacity)
        photo.image(overlay, caption="photo with lesion mask", width="stretch")
    height, width = result.mask.shape
    mask.image(logic.for_display(result.mask), caption=f"mask, {width} x {height}", width="stretch")
    with numbers:
        for label in LABELS:
            show_probability(label, getattr(result, f"{label}_probability"), getattr(result, f"{label}_decision"))
        st.metric("Lesion area", f"{result.lesion_area_fraction:.1%} of the photo")
        show_latency(outcome.latency)
        stem = logic.download_stem(name)
        st.download_button("Mask (PNG)", logic.mask_png(result.mask), f"{stem}_mask.png", "image/png", key=f"png-{index}")
        st.download_button("Result (JSON)", logic.result_json(outcome), f"{stem}.json", "application/json", key=f"json-{index}")


server_banner()
with st.sidebar:
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.4, 0.05)
    use_example = st.checkbox("Add a synthetic example photo", help="Not a real lesion: a demo input.")
uploads = st.file_uploader("Dermoscopic photos", type=IMAGE_TYPES, accept_multiple_files=True)
items = [(f.name, f.getvalue()) for f in uploads or []]
if use_example:
    items.append((EXAMPLE_NAME, synthetic_lesion_jpeg()))
if not items:
    st.info("Upload one or more photos (JPEG, PNG, ...) to see the lesion mask and the probabilities.")
for index, (name, data) in enumerate(items):
    show_result(index, name, data, opacity)
