"""python -m export: checkpoint in, Triton model repository files out (see --help)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.parity import ParityError
from export.repository import RepositoryFiles, export_repository, load_for_export
from training.checkpoint import DEFAULT_MODEL

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Export a checkpoint into the Triton model repository: lesion_net/1/model.onnx "
        "(dynamic batch, checked with onnx.checker and against PyTorch on real ISIC images; a parity "
        "failure fails the export), postprocess/1/calibration.json (from the checkpoint), and "
        "lesion_net/1/model.plan (TensorRT FP16) when TensorRT and a GPU are present.",
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help=f"default: {DEFAULT_REPOSITORY}")
    parser.add_argument("--untrained", action="store_true",
                        help="export an ImageNet encoder with an untrained decoder instead of a checkpoint "
                        "(for trying the serving path before a model is trained)")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when model.onnx and calibration.json are newer than the checkpoint")
    parser.add_argument("--skip-parity", action="store_true", help="skip the comparison with PyTorch")
    parser.add_argument("--no-tensorrt", action="store_true", help="do not try to build a TensorRT engine")
    parser.add_argument("--max-batch", type=int, default=16, help="TensorRT profile's largest batch (default 16)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.untrained and not args.checkpoint.is_file():
        print(f"error: no checkpoint at {args.checkpoint}: train one (make train), pass --checkpoint, "
              "or use --untrained to try the serving path (make serve EXPORT_ARGS=--untrained)", file=sys.stderr)
        return 2
    if args.if_stale and not args.untrained and not RepositoryFiles.of(args.repository).stale(args.checkpoint):
        print(f"{args.repository}: exported files are newer than {args.checkpoint}; nothing to do")
        return 0
    source = "untrained network (ImageNet encoder)" if args.untrained else args.checkpoint
    print(f"exporting {source} -> {args.repository}")
    try:
        result = export_repository(load_for_export(args.checkpoint, args.untrained), args.repository,
                                   parity=not args.skip_parity, tensorrt=not args.no_tensorrt,
                                   max_batch=args.max_batch)
    except ParityError as err:
        print(f"error: export failed its parity check, nothing written: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: this checkpoint cannot be served, nothing written: {err}", file=sys.stderr)
        return 2
    print(f"wrote {result.files.onnx}")
    print(f"wrote {result.files.calibration}")
    if result.onnx_parity:
        print(f"ONNX Runtime vs PyTorch: {result.onnx_parity}")
    print(result.tensorrt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
