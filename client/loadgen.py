"""Concurrency sweep against the served pipeline with real images: throughput and latency per level.

For each concurrency level, N threads (one client each) send images round-robin until --requests
have been sent or --duration seconds have passed, whichever comes first. Prints images/s,
p50/p95/p99 latency and errors per level, writes them as CSV, and exposes the client metrics on
--metrics-port while running (scrape it with Prometheus next to Triton's :8002/metrics).

Latency is the client round trip of one image (encode, network, the whole ensemble, decode).
images/s counts successful images over the level's wall time.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from client.errors import ClientError
from client.infer import IMAGE_SUFFIXES
from client.lib import DEFAULT_URLS
from client.metrics import ClientMetrics
from client.pool import ClientPool, ClientSettings
from lesion.contract import PIPELINE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = PROJECT_ROOT.parent / "shared" / "data" / "isic2017-256" / "ISIC-2017_Training_Data"


@dataclass(frozen=True)
class SweepConfig:
    levels: tuple[int, ...] = (1, 2, 4, 8)
    requests_per_level: int = 200
    duration_s: float = 30.0  # per level
    warmup_requests: int = 4


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    requests: int
    ok: int
    errors: int
    wall_s: float
    images_per_s: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_kinds: str  # "kind:count;..." for the CSV


def load_images(directory: Path, limit: int) -> list[tuple[str, bytes]]:
    """The first `limit` image files of a directory (sorted), read into memory."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"error: no image files in {directory}")
    return [(p.name, p.read_bytes()) for p in files[:limit]]


def run_level(
    pool: ClientPool,
    images: list[tuple[str, bytes]],
    concurrency: int,
    config: SweepConfig,
    progress: Progress | None = None,
) -> LevelResult:
    """Send up to requests_per_level images with `concurrency` threads, bounded by duration_s."""
    counter, lock = itertools.count(), threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    task = progress.add_task(f"concurrency {concurrency}", total=config.requests_per_level) if progress else None
    start = time.perf_counter()
    deadline = start + config.duration_s

    def worker() -> None:
        client = pool.client()
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter)
            if i >= config.requests_per_level:
                return
            name, data = images[i % len(images)]
            try:
                latency = client.analyze(data, name=name).latency_ms
                with lock:
                    latencies.append(latency)
            except ClientError as err:
                with lock:
                    errors[err.kind] = errors.get(err.kind, 0) + 1
            if progress is not None:
                progress.advance(task)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(concurrency, latencies, errors, time.perf_counter() - start)


def summarize(concurrency: int, latencies: list[float], errors: dict[str, int], wall_s: float) -> LevelResult:
    lat = np.asarray(latencies, dtype=np.float64)
    pct = np.percentile(lat, [50, 95, 99]) if lat.size else np.full(3, np.nan)
    n_errors = sum(errors.values())
    return LevelResult(
        concurrency=concurrency,
        requests=lat.size + n_errors,
        ok=int(lat.size),
        errors=n_errors,
        wall_s=round(wall_s, 3),
        images_per_s=round(lat.size / wall_s, 2) if wall_s > 0 else 0.0,
        mean_ms=round(float(lat.mean()), 1) if lat.size else float("nan"),
        p50_ms=round(float(pct[0]), 1),
        p95_ms=round(float(pct[1]), 1),
        p99_ms=round(float(pct[2]), 1),
        error_kinds=";".join(f"{k}:{v}" for k, v in sorted(errors.items())),
    )


def sweep(
    settings: ClientSettings,
    images: list[tuple[str, bytes]],
    config: SweepConfig,
    metrics: ClientMetrics | None = None,
    show_progress: bool = True,
) -> list[LevelResult]:
    with ClientPool(settings, metrics) as pool:
        warm = pool.client()
        warm.check_ready()
        for name, data in itertools.islice(itertools.cycle(images), config.warmup_requests):
            warm.analyze(data, name=name)
        with Progress(console=Console(stderr=True), transient=True, disable=not show_progress) as progress:
            return [run_level(pool, images, level, config, progress) for level in config.levels]


def results_table(results: list[LevelResult]) -> Table:
    table = Table(title="Load sweep (client round trip per image)")
    columns = ("concurrency", "requests", "ok", "errors", "images/s", "mean ms", "p50 ms", "p95 ms", "p99 ms")
    for column in columns:
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(*map(str, (r.concurrency, r.requests, r.ok, r.errors, r.images_per_s,
                                 r.mean_ms, r.p50_ms, r.p95_ms, r.p99_ms)))
    return table


def write_csv(results: list[LevelResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(LevelResult)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be at least 1")
    return levels


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m client.loadgen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help=f"image directory (default: {DEFAULT_IMAGES})")
    p.add_argument("--max-images", type=int, default=64, help="distinct images loaded and cycled (default: 64)")
    p.add_argument("--levels", type=_levels, default=(1, 2, 4, 8), help="comma-separated concurrency levels (default: 1,2,4,8)")
    p.add_argument("--requests", type=int, default=200, help="at most this many requests per level (default: 200)")
    p.add_argument("--duration", type=float, default=30.0, help="at most this many seconds per level (default: 30)")
    p.add_argument("--warmup", type=int, default=4, help="requests sent before measuring (default: 4)")
    p.add_argument("--url", help=f"host:port (default {DEFAULT_URLS['http']} http, {DEFAULT_URLS['grpc']} grpc)")
    p.add_argument("--protocol", choices=("http", "grpc"), default="http")
    p.add_argument("--model", default=PIPELINE.name)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    p.add_argument("--csv", type=Path, default=Path("runs/loadgen.csv"), help="CSV output (default: runs/loadgen.csv)")
    p.add_argument("--metrics-port", type=int, help="expose client metrics on 127.0.0.1:PORT/metrics while running")
    p.add_argument("--linger", type=float, default=0.0, help="keep the metrics endpoint up this many seconds after")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.images.is_dir():
        print(f"error: image directory not found: {args.images} (give --images DIR)", file=sys.stderr)
        return 2
    config = SweepConfig(args.levels, args.requests, args.duration, args.warmup)
    settings = ClientSettings(args.url, args.protocol, args.model, args.timeout)
    metrics = ClientMetrics()
    console = Console(width=None if sys.stdout.isatty() else 160)  # no folding in pipes
    if args.metrics_port is not None:
        server, _ = metrics.serve(args.metrics_port)
        console.print(f"client metrics at http://127.0.0.1:{server.server_port}/metrics")
    images = load_images(args.images, args.max_images)
    try:
        results = sweep(settings, images, config, metrics)
    except ClientError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    console.print(results_table(results))
    write_csv(results, args.csv)
    console.print(f"CSV written to {args.csv}")
    time.sleep(args.linger)
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
