from benchmarks.training_step import CASES, main


def test_prints_one_row_per_network_and_precision(capsys):
    assert main(["--batch-size", "2", "--steps", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "s / step" not in line]
    assert len(rows) == 2 * len(CASES)
    assert [row.split(" | ")[1] for row in rows] == ["fp32", "bf16"] * len(CASES)
    assert all(float(row.split(" | ")[2]) > 0 for row in rows)
