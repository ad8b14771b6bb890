"""The committed comparison tables are what the committed runs say (docs/runs/, no checkpoints)."""
from __future__ import annotations

from pathlib import Path

import pytest

from training.report import main as report_main

REPO = Path(__file__).resolve().parents[2]
COMMITTED = {
    "lite0-gpu": (REPO / "docs" / "runs" / "h200-2026-11-27" / "report", REPO / "docs" / "results_tables.md"),
    "inception-cpu": (REPO / "docs" / "runs" / "cpu-2026-11-27-inception",
                      REPO / "docs" / "runs" / "cpu-2026-11-27-inception" / "results_tables.md"),
}


@pytest.mark.parametrize("runs, tables", COMMITTED.values(), ids=COMMITTED.keys())
def test_committed_tables_are_recomputed_from_the_committed_runs(runs, tables, tmp_path):
    assert report_main(["--summarise-only", "--runs", str(runs), "--docs", str(tmp_path)]) == 0
    assert (tmp_path / "results_tables.md").read_text() == tables.read_text()
    assert (tmp_path / "roc_curves.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("mask_overlays*.png")), "overlays need checkpoints, which are not committed"
