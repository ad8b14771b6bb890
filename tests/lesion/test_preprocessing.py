import io

import numpy as np
import pytest
from PIL import Image

from lesion.contract import IMAGE, INPUT_SIZE
from lesion.preprocessing import (
    ImageDecodeError,
    decode_image,
    mask_to_original_size,
    preprocess_bytes,
    to_network_input,
)


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None].repeat(width, 1)
    return Image.fromarray(np.concatenate([x, y, 255 - x], axis=2))


def test_network_input_is_normalised_per_channel():
    x, size = preprocess_bytes(encode(gradient(640, 480)))
    assert x.shape == IMAGE.shape and x.dtype == np.float32
    assert size == (480, 640)
    assert np.allclose(x.mean(axis=(1, 2)), 0, atol=1e-4)
    assert np.allclose(x.std(axis=(1, 2)), 1, atol=1e-3)


def test_fixed_scaling_keeps_the_brightness_that_per_image_scaling_removes():
    dark = np.random.default_rng(0).integers(0, 100, (300, 200, 3), dtype=np.uint8)
    bright = dark + 100
    assert np.allclose(to_network_input(dark), to_network_input(bright), atol=1e-4)
    fixed = to_network_input(bright, "fixed") - to_network_input(dark, "fixed")
    assert fixed.shape == IMAGE.shape and np.allclose(fixed, 100 / 128, atol=1e-5)
    assert to_network_input(np.full((8, 8, 3), 127, np.uint8), "fixed").max() == 0.0


def test_exif_rotation_is_honoured():
    image = gradient(400, 200)  # landscape pixels, tagged "rotate 90 CW" -> portrait upright
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(encode(image, exif=exif))
    assert decoded.original_size == (400, 200)
    assert decoded.rgb.shape[:2] == (400, 200)


def test_png_alpha_is_dropped():
    rgba = Image.new("RGBA", (300, 200), (200, 100, 50, 0))
    decoded = decode_image(encode(rgba, "PNG"))
    assert decoded.rgb.shape == (200, 300, 3)
    assert tuple(decoded.rgb[0, 0]) == (200, 100, 50)


def test_big_jpeg_is_decoded_reduced_but_reports_full_size():
    decoded = decode_image(encode(gradient(4000, 3000), quality=70))
    assert decoded.original_size == (3000, 4000)
    assert 2 * INPUT_SIZE <= min(decoded.rgb.shape[:2]) < 3000
    assert to_network_input(decoded.rgb).shape == IMAGE.shape


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not a readable image"),
        (encode(gradient(64, 64))[:200], "corrupt"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(data)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("L", (12000, 10000)), "PNG")  # 120 MP, a few hundred bytes
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageDecodeError, match="megapixels"):
        decode_image(bomb)


def test_mask_comes_back_at_original_size_as_0_255():
    prob = np.zeros((INPUT_SIZE, INPUT_SIZE), np.float32)
    prob[64:192, 64:192] = 1.0
    mask = mask_to_original_size(prob, (600, 800))
    assert mask.shape == (600, 800) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    assert mask[300, 400] == 255 and mask[10, 10] == 0
    assert mask.mean() / 255 == pytest.approx(0.25, abs=0.01)
