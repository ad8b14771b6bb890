"""scripts/gpu_kit.sh's checks that need no registry: a wrong encoder is refused before anything is written."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_encoder_is_refused_and_the_kit_is_left_alone(isic_root):
    wheels = sorted(REPO.glob(".whl/*.whl"))
    done = subprocess.run(["bash", "scripts/gpu_kit.sh"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DATA": str(isic_root), "ENCODER": "lite9"})
    assert done.returncode == 2
    assert "ENCODER must be lite0 or lite2, not lite9" in done.stderr
    assert sorted(REPO.glob(".whl/*.whl")) == wheels
