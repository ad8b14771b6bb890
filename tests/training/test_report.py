"""The committed comparison tables are what the committed runs say (docs/runs/, no checkpoints)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.report import main as report_main

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "docs" / "runs"
LITE0_ROOTS = [RUNS / "h200-2026-11-27" / "report", RUNS / "cpu-2026-11-27-lite0-cls40", RUNS / "h200-2026-11-28" / "report",
               RUNS / "cpu-2026-11-28-lite0-seg40"]
COMMITTED = {
    "lite0-gpu-and-cpu": (LITE0_ROOTS, REPO / "docs" / "results_tables.md"),
    "inception-cpu": ([RUNS / "cpu-2026-11-27-inception"], RUNS / "cpu-2026-11-27-inception" / "results_tables.md"),
    "inception40-cpu": ([RUNS / "cpu-2026-11-29-inception40"], RUNS / "cpu-2026-11-29-inception40" / "results_tables.md"),
}


@pytest.mark.parametrize("roots, tables", COMMITTED.values(), ids=COMMITTED.keys())
def test_committed_tables_are_recomputed_from_the_committed_runs(roots, tables, tmp_path):
    assert report_main(["--summarise-only", "--runs", *map(str, roots), "--docs", str(tmp_path)]) == 0
    assert (tmp_path / "results_tables.md").read_text() == tables.read_text()
    assert (tmp_path / "roc_curves.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("mask_overlays*.png")), "overlays need checkpoints, which are not committed"


def test_folds_from_several_roots_combine_with_each_devices_time_apart_and_a_fold_twice_is_refused(tmp_path):
    cls = "efficientnet_lite0-cls"
    gpu, cpu = RUNS / "h200-2026-11-27" / "report", RUNS / "cpu-2026-11-27-lite0-cls40"
    assert report_main(["--summarise-only", "--runs", str(gpu), str(cpu), "--docs", str(tmp_path)]) == 0
    row = next(line for line in (tmp_path / "results_tables.md").read_text().splitlines()
               if "classification only | efficientnet_lite0 | 5 |" in line)
    assert row.endswith(" s cuda + 12236 s cpu |")
    shutil.copytree(gpu / cls / "fold0", tmp_path / "again" / cls / "fold0")
    with pytest.raises(SystemExit, match="more than one"):
        report_main(["--summarise-only", "--runs", str(gpu), str(tmp_path / "again"), "--docs", str(tmp_path)])
