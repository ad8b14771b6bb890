"""The committed comparison tables are what the committed GPU runs say (docs/runs/, no checkpoints)."""
from __future__ import annotations

from pathlib import Path

from training.report import main as report_main

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "docs" / "runs" / "h200-2026-11-27" / "report"


def test_committed_tables_are_recomputed_from_the_committed_runs(tmp_path):
    assert report_main(["--summarise-only", "--runs", str(RUNS), "--docs", str(tmp_path)]) == 0
    assert (tmp_path / "results_tables.md").read_text() == (REPO / "docs" / "results_tables.md").read_text()
    assert (tmp_path / "roc_curves.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("mask_overlays*.png")), "overlays need checkpoints, which are not committed"
