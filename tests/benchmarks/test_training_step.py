import pytest

from benchmarks.training_step import CASES, main
from training.train import cpu_has_native_bf16


@pytest.mark.parametrize("encoder", ["efficientnet_lite0", "inception"])
def test_prints_one_row_per_network_and_precision(capsys, encoder):
    assert main(["--batch-size", "2", "--steps", "1", "--encoder", encoder]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(f"encoder {encoder}")
    assert out.splitlines()[1].startswith("CPU ") and ("native bf16: yes" in out) == cpu_has_native_bf16()
    rows = [line for line in out.splitlines() if line.startswith("| ") and "s / step" not in line]
    assert len(rows) == 2 * len(CASES)
    assert [row.split(" | ")[1] for row in rows] == ["fp32", "bf16"] * len(CASES)
    assert all(float(row.split(" | ")[2]) > 0 for row in rows)
