"""Fixtures shared by every test package.

Real ISIC 2017 data is read from ../shared/data/isic2017-256 (or $ISIC_DATA); tests that need it skip
cleanly where it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ISIC_ROOT = Path(os.environ.get("ISIC_DATA", REPO.parent / "shared" / "data" / "isic2017-256"))


@pytest.fixture(scope="session")
def isic_root() -> Path:
    """The ISIC 2017 data root (official layout); skips the test where it is absent."""
    if not (ISIC_ROOT / "ISIC-2017_Training_Data").is_dir():
        pytest.skip(f"ISIC 2017 data not found at {ISIC_ROOT}")
    return ISIC_ROOT


@pytest.fixture(scope="session")
def isic_samples(isic_root: Path):
    from training.data import read_split

    return read_split(isic_root, "training")


@pytest.fixture(scope="session")
def isic_jpeg_bytes(isic_samples) -> list[bytes]:
    """A few real ISIC JPEGs as bytes: two nevi, a melanoma, a seborrheic keratosis."""
    picks = [s for s in isic_samples if s.diagnosis == 0][:2]
    picks += [next(s for s in isic_samples if s.diagnosis == d) for d in (1, 2)]
    return [s.image_path.read_bytes() for s in picks]
