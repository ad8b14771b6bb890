"""The CLI as a user runs it (`python client/infer.py ...`), against the real server."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from client.infer import EXIT_NOTHING_DONE, EXIT_OK, EXIT_SOME_FAILED


@pytest.fixture(params=["http", "grpc"])
def server_args(request, triton_server) -> list[str]:
    url = triton_server.http_url if request.param == "http" else triton_server.grpc_url
    return ["--url", url, "--protocol", request.param]


def test_table_for_real_images(run_cli, server_args, isic_images) -> None:
    proc = run_cli(*isic_images[:2], *server_args)
    assert proc.returncode == EXIT_OK, proc.stderr
    for path in isic_images[:2]:
        assert path.name in proc.stdout
    assert "melanoma" in proc.stdout and "seborrheic keratosis" in proc.stdout
    assert "images: 2  analysed: 2  errors: 0" in proc.stdout
    assert "p95" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_json_lines_and_output_files(run_cli, server_args, isic_images, tmp_path) -> None:
    proc = run_cli(*isic_images[:2], *server_args, "--json", "--out", tmp_path, "--concurrency", 2)
    assert proc.returncode == EXIT_OK, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in isic_images[:2]]  # input order
    for record, path in zip(records, isic_images):
        assert 0 <= record["melanoma_probability"] <= 1 and 0 <= record["seborrheic_keratosis_probability"] <= 1
        assert isinstance(record["melanoma_decision"], bool) and record["latency_ms"] > 0
        mask = np.asarray(Image.open(record["mask_path"]))
        size = Image.open(path).size
        assert mask.shape == size[::-1] and set(np.unique(mask)) <= {0, 255}
        assert record["lesion_area_fraction"] == pytest.approx(np.count_nonzero(mask) / mask.size, abs=1e-6)
        overlay = Image.open(tmp_path / f"{path.stem}_overlay.png")
        assert overlay.size == size and overlay.mode == "RGB"


def test_directory_mixing_good_and_bad_files(run_cli, server_args, mixed_dir) -> None:
    proc = run_cli(mixed_dir, *server_args)
    assert proc.returncode == EXIT_SOME_FAILED
    assert "images: 5  analysed: 2  errors: 3" in proc.stdout  # README.txt skipped
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr  # one line per failure, no traceback
    assert any(l.startswith(f"{mixed_dir / 'truncated.jpg'}: ") and "corrupt or truncated" in l for l in lines)
    assert any(l.startswith(f"{mixed_dir / 'empty.png'}: ") and "empty" in l for l in lines)
    assert any(l.startswith(f"{mixed_dir / 'notes.jpg'}: ") and "not a readable image" in l for l in lines)


@pytest.mark.parametrize("kind", ["truncated", "empty", "text"])
def test_each_bad_file_fails_alone(run_cli, triton_server, bad_files, kind) -> None:
    proc = run_cli(bad_files[kind], "--url", triton_server.http_url, "--json")
    assert proc.returncode == EXIT_SOME_FAILED
    assert proc.stderr.startswith(f"{bad_files[kind]}: ")
    assert "error" in json.loads(proc.stdout)


def test_missing_file_among_good_ones(run_cli, triton_server, isic_images, tmp_path) -> None:
    missing = tmp_path / "missing.jpg"
    proc = run_cli(missing, isic_images[0], "--url", triton_server.http_url)
    assert proc.returncode == EXIT_SOME_FAILED
    assert f"{missing}: cannot read file: No such file or directory" in proc.stderr
    assert "analysed: 1  errors: 1" in proc.stdout


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_down(run_cli, dead_url, isic_images, protocol) -> None:
    proc = run_cli(isic_images[0], "--url", dead_url, "--protocol", protocol, "--retries", 0)
    assert proc.returncode == EXIT_NOTHING_DONE
    assert proc.stderr.strip() == f"error: 1 image(s) not analysed: server unreachable at {dead_url}: connection refused"


def test_wrong_model_name(run_cli, server_args, isic_images) -> None:
    proc = run_cli(isic_images[0], *server_args, "--model", "lesion_pipline")
    assert proc.returncode == EXIT_NOTHING_DONE
    line = proc.stderr.strip()
    assert "model 'lesion_pipline' is not ready" in line and "ready models:" in line and "\n" not in line


def test_timeout(run_cli, triton_server, isic_images) -> None:
    proc = run_cli(isic_images[0], "--url", triton_server.grpc_url, "--protocol", "grpc", "--timeout", 0.001)
    assert proc.returncode != EXIT_OK
    assert "no answer from" in proc.stderr and "within 0.001 s" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_verbose_shows_the_traceback(run_cli, triton_server, bad_files) -> None:
    proc = run_cli(bad_files["text"], "--url", triton_server.http_url, "--verbose")
    assert proc.returncode == EXIT_SOME_FAILED
    assert "Traceback" in proc.stderr and "InvalidImage" in proc.stderr


def test_no_images_found(run_cli, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    proc = run_cli(tmp_path)
    assert proc.returncode == EXIT_NOTHING_DONE
    assert "no image files found" in proc.stderr


def test_help_is_the_documentation(run_cli) -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for option in ("--url", "--protocol", "--model", "--out", "--json", "--concurrency", "--timeout", "--verbose"):
        assert option in proc.stdout
    assert "Exit status" in proc.stdout
