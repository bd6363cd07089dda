"""The `grasp` command: detection, benchmarks, data generation, training and evaluation.

grasp detect --model M --rgb A --depth B [--depth-scale S] [--out DIR]
grasp bench --model M [--json]
grasp generate --out DIR --scenes N --objects K --object-set {seen,novel} --seed S
grasp train --model {grconvnet,ggcnn2,ssg} --data D [--val-data D] --out DIR
grasp eval --model M --data D [--instance-wise] [--json]
grasp eval --model M --sim-trials --objects K --scenes N --object-set S --seed S [--json]

Everywhere a dataset is taken, --data is a generated folder or cornell:PATH, jacquard:PATH,
ocid:PATH. generate and --sim-trials need grasp_sim (MuJoCo); train needs grasp_learning
(torch); each is imported only by the subcommand that uses it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import cv2

from grasp_core.datasets import DatasetError
from grasp_core.draw import draw_grasps
from grasp_core.images import read_depth, read_rgb
from grasp_core.metadata import MetadataError
from grasp_core.postprocess import PostprocessParams
from grasp_core.preprocess import DEFAULT_DEPTH_SCALE_M, InputError
from grasp_core.serving import ModelFileError, open_predictor


def detect(args: argparse.Namespace) -> int:
    """Detect grasps in one RGB-D pair; write grasps.json and grasps.png into --out."""
    predictor = open_predictor(
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


def generate(args: argparse.Namespace) -> int:
    """Render and label simulated tables into a dataset folder."""
    from grasp_core.datasets.generated import open_generated
    from grasp_sim.generate import GenerateConfig
    from grasp_sim.generate import generate as generate_dataset

    config = GenerateConfig(
        scenes=args.scenes,
        max_objects=args.objects,
        object_set=args.object_set,
        seed=args.seed,
        views=args.views,
    )
    try:
        stats = generate_dataset(config, Path(args.out), workers=args.workers)
    except KeyboardInterrupt:
        # Counted by the reader itself, so the count is what a later --data will see.
        written = len(open_generated(Path(args.out)))
        print(
            f"stopped: {written} images written to {args.out}, readable as a dataset",
            file=sys.stderr,
        )
        return 130
    print(
        f"{stats['images']} images, {stats['grasps']} grasp rectangles in {stats['seconds']:.0f} s "
        f"({stats['images_per_s']:.2f} images/s) -> {args.out}"
    )
    return 0


def train(args: argparse.Namespace) -> int:
    """Train a grasp network and export its best epoch to ONNX."""
    try:
        from grasp_learning.train import TrainConfig
        from grasp_learning.train import train as train_model
    except ImportError as err:
        raise InputError(f"grasp train needs the training extra (make env-train): {err}") from None

    if args.model == "ssg":
        from grasp_learning.ssg import BACKBONES

        blocks, widths = BACKBONES[args.backbone]
        hyper = {"blocks": blocks, "widths": widths}
    else:
        hyper = {"angle_bins": args.angle_bins}
    if args.channels is not None:
        if args.model != "grconvnet":
            raise InputError(f"--channels sets GR-ConvNet's width; {args.model} has none")
        hyper["channels"] = args.channels
    config = TrainConfig(
        architecture=args.model,
        hyperparameters=hyper,
        input_size=(args.input_size, args.input_size),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        batches_per_epoch=args.batches_per_epoch,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        positive_weight=args.positive_weight,
        max_minutes=args.max_minutes,
        init=args.init,
    )
    summary = train_model(config, args.data, Path(args.out), args.val_data, resume=not args.restart)
    print(json.dumps(summary))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Rectangle metric on a dataset, or simulated grasp trials."""
    if args.sim_trials:
        return _sim_trials(args)
    if not args.data:
        raise InputError("grasp eval needs --data (or --sim-trials)")
    if args.top_k < 1:
        raise InputError(f"--top-k must be >= 1, got {args.top_k}")
    from grasp_core.datasets import open_dataset, split
    from grasp_core.evaluation import evaluate_model, write_worst
    from grasp_core.metrics import accuracy_key

    predictor = open_predictor(
        args.model,
        providers=args.providers,
        params=PostprocessParams(max_grasps=args.top_k, threshold=0.0),
    )
    data = split(open_dataset(args.data), args.split)
    if not len(data):
        raise DatasetError(f"the {args.split!r} split of {args.data} holds no image")
    result, scores = evaluate_model(
        predictor, data, top_k=args.top_k, instance_wise=args.instance_wise
    )
    worst = write_worst(data, scores, Path(args.out), args.worst)
    report = {
        "model": str(args.model),
        "data": args.data,
        "split": args.split,
        "images": result.num_images,
        **result.accuracy,
        "iou_avg": result.iou_avg,
        "per_class": result.per_class,
    }
    if args.instance_wise:
        # The paper's instance-wise accuracy (000, sec. IV): IoU 0.25, 30 deg, class matches.
        report["instance_acc"] = result.accuracy[accuracy_key(0.25, 30)]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "eval.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
    else:
        print(format_accuracy(result.accuracy))
        print(f"IoU-Avg {result.iou_avg:.3f} over {result.num_images} images")
        if args.instance_wise:
            print(f"instance-wise accuracy {100 * report['instance_acc']:.1f}%")
        for label, acc in result.per_class.items():
            print(f"  {label:12s} {acc:.3f}")
        print(f"worst {len(worst)} images -> {args.out}")
    return 0


def format_accuracy(accuracy: dict[str, float]) -> str:
    """The rectangle metric as a table: IoU thresholds down, angle thresholds across."""
    from grasp_core.metrics import ANGLE_THRESHOLDS_DEG, IOU_THRESHOLDS, accuracy_key

    lines = ["IoU \\ angle " + "".join(f"{deg:>7d}°" for deg in ANGLE_THRESHOLDS_DEG)]
    for iou in IOU_THRESHOLDS:
        row = "".join(
            f"{100 * accuracy[accuracy_key(iou, deg)]:7.1f}%" for deg in ANGLE_THRESHOLDS_DEG
        )
        lines.append(f"{iou:>11.2f} " + row)
    return "\n".join(lines)


def _sim_trials(args: argparse.Namespace) -> int:
    from grasp_core.camera import D435_COLOR_640X480
    from grasp_sim.trials import TrialConfig, run_trials

    # SSG models get InstancePredictor and its default detection settings.
    predictor = open_predictor(
        args.model,
        providers=args.providers,
        params=PostprocessParams(max_grasps=50, threshold=0.05, min_distance_px=4),
    )
    config = TrialConfig(
        scenes=args.scenes, objects=args.objects, object_set=args.object_set, seed=args.seed
    )
    result = run_trials(predictor, config, D435_COLOR_640X480)
    report = {
        "model": str(args.model),
        "scenes": args.scenes,
        "objects_per_table": args.objects,
        "object_set": args.object_set,
        **result.metrics(),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "sim_trials.json").write_text(
        json.dumps({**report, "per_scene": result.per_scene}, indent=1)
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"SR {100 * report['success_rate']:.1f}%  PC {100 * report['percent_cleared']:.1f}%  "
            f"AP {100 * report['ap50']:.1f}%  "
            f"({report['attempts']} attempts, {report['objects']} objects)"
        )
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

    p = sub.add_parser("generate", help="render and label simulated tables into a dataset")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--scenes", type=int, required=True, help="number of tables")
    p.add_argument("--objects", type=int, default=10, help="each table gets 1..K objects")
    p.add_argument("--object-set", choices=("seen", "novel"), default="seen")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--views", type=int, default=2, help="camera views per table")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.set_defaults(func=generate)

    p = sub.add_parser("train", help="train GR-ConvNet, GG-CNN2 or SSG and export it to ONNX")
    p.add_argument("--model", choices=("grconvnet", "ggcnn2", "ssg"), default="grconvnet")
    p.add_argument(
        "--data", required=True,
        help="folder, cornell:PATH, jacquard:PATH, ocid:PATH; join several with +",
    )  # fmt: skip
    p.add_argument("--val-data", help="validation data (default: every 10th training image)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics, model.onnx")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--channels", type=int, help="GR-ConvNet width (default 32)")
    p.add_argument("--angle-bins", type=int, default=3, help="N of 004 (default 3)")
    p.add_argument(
        "--backbone",
        choices=("resnet18-slim", "resnet18", "resnet34"),
        default="resnet18-slim",
        help="SSG's ResNet (default resnet18-slim: ResNet-18 blocks at half width)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=224,
        help="square network input, px (a multiple of 32 for ssg)",
    )
    p.add_argument("--batches-per-epoch", type=int, help="cap per epoch (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes")
    p.add_argument(
        "--positive-weight",
        type=float,
        default=0.0,
        help="extra weight of the quality error on grasp pixels (default 0: plain 004 eq. 9)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        help="time budget: the run shortens itself (and its schedule) to the epochs that fit",
    )
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in --out")
    p.add_argument(
        "--init",
        help="fine-tune: start from these weights (another run's best.pt, or a model.onnx "
        "this project exported)",
    )
    p.set_defaults(func=train)

    p = sub.add_parser("eval", help="rectangle metric on a dataset, or simulated trials")
    p.add_argument("--model", required=True)
    p.add_argument("--data", help="folder, cornell:PATH, jacquard:PATH, ocid:PATH")
    p.add_argument("--split", choices=("all", "train", "test"), default="all")
    p.add_argument("--top-k", type=int, default=1, help="grasps per image scored")
    p.add_argument("--instance-wise", action="store_true", help="the class must match too")
    p.add_argument("--worst", type=int, default=8, help="PNGs of this many worst images")
    p.add_argument("--out", default="out/eval", help="folder for eval.json and pictures")
    p.add_argument("--providers", nargs="+")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--sim-trials", action="store_true", help="simulated grasp trials instead")
    p.add_argument("--objects", type=int, default=5, help="objects per table (--sim-trials)")
    p.add_argument("--scenes", type=int, default=10, help="tables (--sim-trials)")
    p.add_argument("--object-set", choices=("seen", "novel"), default="novel")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, MetadataError, ModelFileError, DatasetError) as err:
        print(f"grasp {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
