"""Helpers for the serving tests: images in the shapes real users send, and Triton inputs."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's signature)."""
    data = encode(Image.new("L", (8, 8)), "PNG")
    ihdr = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    return data[:8] + data[8:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


@pytest.fixture(scope="session")
def isic_image(isic_samples) -> Image.Image:
    return Image.open(isic_samples[0].image_path).convert("RGB")


@pytest.fixture(scope="session")
def user_photos(isic_image) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """name -> (encoded bytes, expected (height, width) of the mask) for full-size-like uploads."""
    rgba = isic_image.resize((1024, 768)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((1024, 768)))
    rotated = isic_image.resize((1024, 768)).transpose(Image.Transpose.ROTATE_90)  # stored 768 x 1024
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": displays as 1024 x 768 again
    return {
        "jpeg_1024x768": (encode(isic_image.resize((1024, 768)), quality=92), (768, 1024)),
        "jpeg_3000x2000": (encode(isic_image.resize((3000, 2000)), quality=90), (2000, 3000)),
        "jpeg_50mp": (encode(isic_image.resize((8660, 5773)), quality=85), (5773, 8660)),  # a 50 MP camera
        "png_rgba_1024x768": (encode(rgba, "PNG"), (768, 1024)),
        "jpeg_exif_rotated": (encode(rotated, quality=92, exif=exif.tobytes()), (768, 1024)),
    }


@pytest.fixture(scope="session")
def bad_uploads(isic_samples) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, words the error must contain)."""
    jpeg = isic_samples[0].image_path.read_bytes()
    return {
        "empty": (b"", "empty input"),
        "not_an_image": (b"%PDF-1.4 this is a document, not a photo", "not a readable image"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "truncated"),
        "bomb": (png_bomb(), "megapixels"),
    }

