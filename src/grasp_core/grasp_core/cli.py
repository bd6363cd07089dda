"""The `grasp` command: grasp detection and benchmarks on image files, no ROS needed.

grasp detect --model M --rgb A --depth B [--depth-scale S] [--out DIR]
grasp bench --model M [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import cv2

from grasp_core.draw import draw_grasps
from grasp_core.images import read_depth, read_rgb
from grasp_core.metadata import MetadataError
from grasp_core.postprocess import PostprocessParams
from grasp_core.preprocess import DEFAULT_DEPTH_SCALE_M, InputError
from grasp_core.serving import GraspPredictor, ModelFileError


def detect(args: argparse.Namespace) -> int:
    """Detect grasps in one RGB-D pair; write grasps.json and grasps.png into --out."""
    predictor = GraspPredictor(
        args.model,
        providers=args.providers,
        params=PostprocessParams(max_grasps=args.max_grasps, threshold=args.threshold),
    )
    rgb = read_rgb(args.rgb) if args.rgb else None
    depth = read_depth(args.depth) if args.depth else None
    prediction = predictor.predict(rgb, depth, depth_scale_m=args.depth_scale)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "model": str(args.model),
        "providers": predictor.providers,
        "image_size": list((rgb if rgb is not None else depth).shape[:2]),
        "timing_ms": {
            "preprocess": prediction.preprocess_ms,
            "inference": prediction.inference_ms,
            "postprocess": prediction.postprocess_ms,
        },
        "units": "u, v, width, jaw_length: px of the input image; angle: rad, "
        "counter-clockwise on screen; quality: 0..1",
        "grasps": [asdict(g) for g in prediction.grasps],
    }
    (out / "grasps.json").write_text(json.dumps(report, indent=2))
    background = rgb if rgb is not None else depth
    cv2.imwrite(str(out / "grasps.png"), draw_grasps(background, prediction.grasps))
    for rank, g in enumerate(prediction.grasps, start=1):
        print(
            f"{rank:2d}. u={g.u:7.1f} v={g.v:7.1f} px  angle={g.angle:+.3f} rad  "
            f"width={g.width:6.1f} px  quality={g.quality:.3f}"
        )
    print(f"{len(prediction.grasps)} grasp(s) -> {out / 'grasps.json'}, {out / 'grasps.png'}")
    return 0


def bench(args: argparse.Namespace) -> int:
    """Median batch-1 latency per ONNX Runtime provider and for torch eager."""
    # Imported here so that `grasp detect` never pays for the benchmark's imports.
    from grasp_core.bench import run_bench

    result = run_bench(args.model, runs=args.runs, threads=args.threads)
    table = result.pop("table")
    print(json.dumps(result) if args.json else table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grasp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect", help="detect grasps in an RGB-D image pair")
    p.add_argument("--model", required=True, help="ONNX model with grasp_stack metadata")
    p.add_argument("--rgb", help="colour image (PNG/JPEG)")
    p.add_argument("--depth", help="depth aligned to the colour image (PNG/TIFF/.npy)")
    p.add_argument(
        "--depth-scale",
        type=float,
        default=DEFAULT_DEPTH_SCALE_M,
        help="m per unit of 16-bit depth files (default 0.001: millimetres)",
    )
    p.add_argument("--out", default="out/detect", help="folder for grasps.json and grasps.png")
    p.add_argument("--max-grasps", type=int, default=5)
    p.add_argument("--threshold", type=float, default=0.2, help="minimum grasp quality")
    p.add_argument("--providers", nargs="+", help="e.g. cuda cpu (default: best available)")
    p.set_defaults(func=detect)

    p = sub.add_parser("bench", help="time batch-1 inference per provider and torch eager")
    p.add_argument("--model", required=True)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(func=bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, MetadataError, ModelFileError) as err:
        print(f"grasp {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
