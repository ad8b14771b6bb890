"""Fixtures of the client tests: real ISIC images (and edge cases made from them), free ports,
the CLI as a subprocess, and the Debian Prometheus binaries (skipping cleanly where absent)."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dead_url(free_port) -> str:
    """host:port of 127.0.0.1 where no server listens."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def isic_images(isic_root: Path) -> list[Path]:
    """A few real ISIC JPEG files (skips where the data set is absent)."""
    return sorted((isic_root / "ISIC-2017_Training_Data").glob("ISIC_*.jpg"))[:4]


@pytest.fixture(scope="session")
def isic_bytes(isic_images: list[Path]) -> bytes:
    return isic_images[0].read_bytes()


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def exif_rotated_jpeg(isic_images: list[Path]) -> bytes:
    """A 256 wide x 200 high JPEG tagged EXIF orientation 6 (rotate 90): displayed 200 wide x 256 high."""
    image = Image.open(isic_images[1]).convert("RGB").crop((0, 0, 256, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(image, "JPEG", exif=exif.tobytes())


@pytest.fixture(scope="session")
def rgba_png(isic_images: list[Path]) -> bytes:
    """A 300 x 180 PNG with an alpha channel."""
    image = Image.open(isic_images[2]).convert("RGB").resize((300, 180)).convert("RGBA")
    image.putalpha(128)
    return _encode(image, "PNG")


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, isic_images: list[Path]) -> dict[str, Path]:
    """Files the pipeline must reject: truncated JPEG, empty file, text under a .jpg name."""
    folder = tmp_path_factory.mktemp("bad")
    files = {
        "truncated": folder / "truncated.jpg",
        "empty": folder / "empty.png",
        "text": folder / "notes.jpg",
    }
    files["truncated"].write_bytes(isic_images[3].read_bytes()[:2000])
    files["empty"].write_bytes(b"")
    files["text"].write_text("not an image\n")
    return files


@pytest.fixture(scope="session")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory, isic_images: list[Path], bad_files) -> Path:
    """Two good ISIC images, three bad image-named files and a README that directory scans skip."""
    folder = tmp_path_factory.mktemp("mixed")
    for path in isic_images[:2]:
        shutil.copy(path, folder / path.name)
    for path in bad_files.values():
        shutil.copy(path, folder / path.name)
    (folder / "README.txt").write_text("skipped: not an image extension\n")
    return folder


CliRunner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_cli() -> CliRunner:
    """Run `python client/infer.py ARGS` (as a user would) and return the finished process."""

    def run(*args: object, timeout: float = 180) -> subprocess.CompletedProcess:
        command = [sys.executable, str(REPO / "client" / "infer.py"), *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)

    return run
