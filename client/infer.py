"""Analyse dermoscopic images with the lesion pipeline served by Triton.

Each file's encoded bytes are sent as they are; the server decodes, segments and classifies. Prints a
table (melanoma and seborrheic keratosis probability with the calibrated decision, lesion area as a
fraction of the image, round-trip latency) and a summary, or one JSON object per image with --json.

Directories: the image files directly inside (by extension: jpg, jpeg, png, bmp, gif, tif, tiff, webp),
hidden files and other extensions skipped. A file named on the command line is always sent, whatever
its extension, and fails clearly when it is not an image.

Exit status: 0 every image analysed; 1 some images failed (one line each on stderr, naming the file
and the cause); 2 nothing was analysed because the server is unreachable, the model is not ready,
or no image was found.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from client.errors import ClientError
from client.lib import DEFAULT_URLS, AnalysisResult
from client.pool import ClientPool, ClientSettings
from client.render import write_mask_and_overlay
from lesion.contract import PIPELINE

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
EXIT_OK, EXIT_SOME_FAILED, EXIT_NOTHING_DONE = 0, 1, 2


@dataclass
class Outcome:
    path: Path
    result: AnalysisResult | None = None
    error: str | None = None
    exception: BaseException | None = None
    mask_path: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client.infer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="IMAGE_OR_DIR", help="images or directories")
    parser.add_argument(
        "--url", help=f"server host:port (default {DEFAULT_URLS['http']} for http, {DEFAULT_URLS['grpc']} for grpc)"
    )
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http", help="default: http")
    parser.add_argument("--model", default=PIPELINE.name, help=f"model to call (default: {PIPELINE.name})")
    parser.add_argument("--out", type=Path, help="write <stem>_mask.png (0/255, original size) and <stem>_overlay.png here")
    parser.add_argument("--json", action="store_true", help="one JSON object per image per line on stdout")
    parser.add_argument("--concurrency", type=_positive_int, default=1, help="requests in flight (default: 1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    parser.add_argument("--retries", type=int, default=2, help="retries of transient failures (default: 2)")
    parser.add_argument("--verbose", action="store_true", help="tracebacks for failures")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def collect_images(paths: list[Path]) -> list[Path]:
    """Expand directories to the image files inside (sorted); keep named files as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in IMAGE_SUFFIXES)
            )
        else:
            files.append(path)  # missing files fail later with their own line
    return files


def unique_stems(files: list[Path]) -> dict[Path, str]:
    """Output stems, made unique when two inputs share a name (a/x.jpg, b/x.png -> x, x_2)."""
    stems: dict[Path, str] = {}
    used: set[str] = set()
    for path in files:
        stem, n = path.stem, 1
        while stem in used:
            n += 1
            stem = f"{path.stem}_{n}"
        used.add(stem)
        stems[path] = stem
    return stems


def analyse_file(path: Path, pool: ClientPool, out_dir: Path | None, stem: str) -> Outcome:
    outcome = Outcome(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        outcome.error, outcome.exception = f"cannot read file: {err.strerror or err}", err
        return outcome
    try:
        outcome.result = pool.client().analyze(data, name=str(path))
        if out_dir is not None:
            outcome.mask_path, _ = write_mask_and_overlay(data, outcome.result.mask, out_dir, stem)
    except ClientError as err:
        outcome.error, outcome.exception = str(err), err
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the rest
        outcome.error, outcome.exception = f"unexpected error: {type(err).__name__}: {err}", err
    return outcome


def json_line(outcome: Outcome) -> str:
    if outcome.result is None:
        return json.dumps({"image": str(outcome.path), "error": outcome.error})
    record = outcome.result.to_json_dict()
    if outcome.mask_path is not None:
        record["mask_path"] = str(outcome.mask_path)
    return json.dumps(record)


def results_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Lesion analysis")
    for column in ("image", "melanoma", "seborrheic keratosis", "lesion area", "latency ms"):
        table.add_column(column, justify="left" if column == "image" else "right", overflow="fold")
    for outcome in outcomes:
        if (r := outcome.result) is None:
            table.add_row(str(outcome.path), "error", "error", "-", "-")
            continue
        table.add_row(
            str(outcome.path),
            _probability(r.melanoma_probability, r.melanoma_decision),
            _probability(r.seborrheic_keratosis_probability, r.seborrheic_keratosis_decision),
            f"{r.lesion_area_fraction:.1%}",
            f"{r.latency_ms:.1f}",
        )
    return table


def _probability(p: float, decision: bool) -> str:
    return f"{p:.3f} {'POSITIVE' if decision else 'negative'}"


def summary_line(outcomes: list[Outcome]) -> str:
    latencies = np.array([o.result.latency_ms for o in outcomes if o.result is not None])
    errors = sum(o.result is None for o in outcomes)
    text = f"images: {len(outcomes)}  analysed: {len(latencies)}  errors: {errors}"
    if latencies.size:
        text += f"  latency mean: {latencies.mean():.1f} ms  p95: {np.percentile(latencies, 95):.1f} ms"
    return text


def report_failure(outcome: Outcome, verbose: bool) -> None:
    print(f"{outcome.path}: {outcome.error}", file=sys.stderr)
    if verbose and outcome.exception is not None:
        traceback.print_exception(outcome.exception, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    files = collect_images(args.paths)
    if not files:
        print("error: no image files found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return EXIT_NOTHING_DONE
    settings = ClientSettings(args.url, args.protocol, args.model, args.timeout, args.retries)
    stems = unique_stems(files)
    with ClientPool(settings) as pool:
        try:
            pool.client().check_ready()
        except ClientError as err:
            print(f"error: {len(files)} image(s) not analysed: {err}", file=sys.stderr)
            if args.verbose:
                traceback.print_exception(err, file=sys.stderr)
            return EXIT_NOTHING_DONE
        outcomes = analyse_all(files, pool, args, stems)
    stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)  # no folding in pipes
    if not args.json:
        stdout.print(results_table(outcomes))
        stdout.print(summary_line(outcomes))
    else:
        print(summary_line(outcomes), file=sys.stderr)
    return EXIT_OK if all(o.result is not None for o in outcomes) else EXIT_SOME_FAILED


def analyse_all(files: list[Path], pool: ClientPool, args: argparse.Namespace, stems: dict[Path, str]) -> list[Outcome]:
    """Analyse in parallel, report in input order as results arrive (JSON lines stream)."""
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(args.concurrency) as executor, Progress(
        console=Console(stderr=True), transient=True, disable=args.json or len(files) < 2
    ) as progress:
        task = progress.add_task("analysing", total=len(files))
        jobs = executor.map(lambda p: analyse_file(p, pool, args.out, stems[p]), files)
        for outcome in jobs:
            outcomes.append(outcome)
            progress.advance(task)
            if outcome.error is not None:
                report_failure(outcome, args.verbose)
            if args.json:
                print(json_line(outcome), flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
