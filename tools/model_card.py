"""Write a model card (Markdown) for a trained model from the files its run left behind.

Every figure comes from a file: the ONNX metadata, the training run's config.json,
metrics.csv and summary.json, the datasets' dataset.json, and the JSON that `grasp eval`
wrote. The commands shown are rebuilt from those files, so they reproduce the model.

    python tools/model_card.py --model models/grconvnet.onnx --run out/train/grconvnet16 \\
        --test data/test_novel --eval out/eval/grconvnet \\
        --trials out/eval/grconvnet-sim5 out/eval/grconvnet-sim15 --notes notes.md \\
        --title "GR-ConvNet, 16 channels, RGB-D" --threads 1
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from grasp_core.bench import cpu_description
from grasp_core.cli import format_accuracy
from grasp_core.datasets import spec_parts
from grasp_core.instances import InstanceParams
from grasp_core.metadata import ModelMetadata
from grasp_learning.export import read_onnx_metadata
from grasp_learning.ssg import BACKBONES

DETECTIONS = InstanceParams()
"""The detection settings `grasp eval --sim-trials` serves an SSG model with."""


def generate_command(data: Path) -> tuple[str, dict]:
    info = json.loads((data / "dataset.json").read_text())
    command = (
        f"grasp generate --out {data} --scenes {info['scenes']} --objects {info['max_objects']} "
        f"--object-set {info['object_set']} --seed {info['seed']} --views {info['views']} "
        "--workers 2"
    )
    return command, info


def dataset_line(role: str, data: Path, info: dict) -> str:
    """One bullet: a generated dataset's size and what its tables hold."""
    files = sorted((data / "grasps").glob("*.txt"))
    grasps = sum(len(f.read_text().splitlines()) for f in files)
    return (
        f"- {role}: {len(files)} images, {grasps} grasp rectangles, {info['scenes']} tables "
        f"of 1–{info['max_objects']} `{info['object_set']}` objects"
    )


def train_command(config: dict, run: Path) -> str:
    hyper = dict(config["hyperparameters"])
    parts = [f"grasp train --model {config['architecture']}"]
    if "channels" in hyper:
        parts.append(f"--channels {hyper.pop('channels')}")
    if "angle_bins" in hyper:
        parts.append(f"--angle-bins {hyper.pop('angle_bins')}")
    if "blocks" in hyper:
        layout = (tuple(hyper.pop("blocks")), tuple(hyper.pop("widths")))
        parts.append(f"--backbone {next(k for k, v in BACKBONES.items() if v == layout)}")
    parts += [
        f"--data {config['data']}",
        *([f"--val-data {config['val_data']}"] if config["val_data"] else []),
        f"--out {run}",
        f"--epochs {config['epochs']}",
        f"--batch-size {config['batch_size']}",
        f"--lr {config['lr']:g}",
        f"--input-size {config['input_size'][0]}",
        f"--positive-weight {config['positive_weight']:g}",
        f"--seed {config['seed']}",
        f"--workers {config['workers']}",
        *([f"--device {config['device']}"] if config["device"] != "auto" else []),
        *([f"--init {config['init']}"] if config.get("init") else []),
    ]
    return " ".join(parts)


def run_chain(run: Path) -> list[tuple[Path, dict]]:
    """The training runs behind ``run``, first first: a fine-tuned run's --init checkpoint
    lies in the run it continues."""
    config = json.loads((run / "config.json").read_text())
    earlier = run_chain(Path(config["init"]).parent) if config.get("init") else []
    return [*earlier, (run, config)]


def outputs_line(meta: ModelMetadata) -> str:
    """One bullet: the graph's outputs, pixel-wise maps or SSG's detection tensors."""
    if meta.architecture == "ssg":
        return (
            f"- outputs `scores` (batch, anchors, {len(meta.classes)} classes + background), "
            "`boxes` (batch, anchors, 4) offsets from the anchors (strides "
            f"{', '.join(str(s) for s in meta.anchors.strides)} px, sizes "
            f"{', '.join(f'{s:g}' for s in meta.anchors.sizes)} px), `coefficients` (batch, "
            f"anchors, 5, {meta.prototypes}) for the mask, quality, sin 2θ, cos 2θ and width "
            f"maps, `prototypes` (batch, h, w, {meta.prototypes}); width map × "
            f"{meta.width_scale:g} = opening in input px; classes "
            + ", ".join(f"`{c}`" for c in meta.classes)
        )
    return (
        f"- outputs `quality`, `cos2theta`, `sin2theta`, `width`: (batch, {meta.angle_bins}, "
        f"{meta.input_size[0]}, {meta.input_size[1]}), {meta.angle_bins} angle bins; width map × "
        f"{meta.width_scale:g} = opening in input px"
    )


def per_class_line(evaluation: dict) -> str:
    """The per-class sentence; with an instance-wise evaluation, also the instance-wise
    accuracy."""
    figures = ", ".join(f"{k} {100 * v:.1f} %" for k, v in evaluation["per_class"].items())
    if "instance_acc" not in evaluation:
        return (
            f"IoU-Avg {evaluation['iou_avg']:.3f} over {evaluation['images']} images. Per class "
            "(IoU 0.25, 30°; over the pairs of an image and a class on its table, the image's "
            "one top grasp must match that class, so a class-agnostic model scores low here on "
            f"cluttered tables): {figures}."
        )
    return (
        f"IoU-Avg {evaluation['iou_avg']:.3f} over {evaluation['images']} images. "
        f"Instance-wise accuracy (`--instance-wise`: the top grasp must also carry the class "
        f"of the object it matches): {100 * evaluation['instance_acc']:.1f} %. Per class "
        "(IoU 0.25, 30°, instance-wise; over the pairs of an image and a class on its table, "
        f"the best grasp the model labels with that class must match that class): {figures}."
    )


def card(args: argparse.Namespace) -> str:
    meta = read_onnx_metadata(args.model)
    summary = json.loads((args.run / "summary.json").read_text())
    with (args.run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    hours = sum(float(r["seconds"]) for r in rows) / 3600
    chain = run_chain(args.run)
    train_data = list(dict.fromkeys(Path(d) for _, c in chain for d in spec_parts(c["data"])))
    generated = [generate_command(data) for data in train_data]
    test_gen, test_info = generate_command(args.test)
    threads = f"OMP_NUM_THREADS={args.threads} " if summary["device"] == "cpu" else ""
    evaluation = json.loads((args.eval / "eval.json").read_text())
    best = summary["best"]

    lines = [
        f"# {args.model.name}: {args.title}",
        "",
        args.notes.read_text().strip() if args.notes else "",
        "",
        "## Interface (from the file's metadata)",
        "",
        f"- architecture `{meta.architecture}`, "
        f"hyper-parameters `{json.dumps(meta.hyperparameters)}`",
        f"- input `input`: (batch, {meta.channels}, {meta.input_size[0]}, {meta.input_size[1]}) "
        f"float32, modality `{meta.modality}` (RGB then depth); the centred square crop of the "
        "camera image resized to the input",
        f"- normalisation: depth in m minus its mean over valid pixels, clipped to "
        f"±{meta.normalization.depth_clip_m:g} m; RGB × {meta.normalization.rgb_scale:.6g}"
        + (" minus the image mean" if meta.normalization.rgb_centre else ""),
        outputs_line(meta),
        "",
        "## Data (generated by this project; no external data)",
        "",
        *(
            dataset_line("training", data, info)
            for data, (_, info) in zip(train_data, generated, strict=True)
        ),
        dataset_line("held-out test", args.test, test_info),
        "",
        "```bash",
        *(command for command, _ in generated),
        test_gen,
        *(threads + train_command(c, run) for run, c in chain),
        f"cp {args.run}/model.onnx {args.model}",
        "```",
        "",
        "## Training",
        "",
        f"- device: {summary['device']} ({args.hardware or cpu_description(args.threads)}); "
        f"{len(rows)} epochs in {hours:.2f} h; best epoch {best['epoch']} on the validation "
        "images (every 10th training image), exported",
        f"- validation at the best epoch: rectangle metric (IoU 0.25, 30°) "
        f"{100 * float(best['rect_acc_25_30']):.1f} %, IoU-Avg {float(best['iou_avg']):.3f}",
        f"- curves: `{args.run}/curves.png` and `metrics.csv` (not shipped)",
        "",
        f"## Held-out novel objects: `grasp eval --model {args.model} --data {args.test}"
        + (" --instance-wise`" if "instance_acc" in evaluation else "`"),
        "",
        "Top-1 grasp per image, rectangle metric (rows: IoU threshold; columns: angle threshold):",
        "",
        "```",
        format_accuracy(evaluation),
        "```",
        "",
        per_class_line(evaluation),
        "",
    ]
    if args.trials:
        lines += [
            "## Simulated grasp trials (novel objects)",
            "",
            "| objects per table | tables | attempts | success rate | percent cleared "
            f"| AP ({'per detection' if meta.architecture == 'ssg' else 'top 50'}) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for folder in args.trials:
            t = json.loads((folder / "sim_trials.json").read_text())
            lines.append(
                f"| {t['objects_per_table']} | {t['scenes']} | {t['attempts']} "
                f"| {100 * t['success_rate']:.1f} % | {100 * t['percent_cleared']:.1f} % "
                f"| {100 * t['ap50']:.1f} % |"
            )
        lines += [
            "",
            "Success rate: lifts / attempts while each table is cleared with the top grasp of "
            "a fresh image (a table ends when empty or after 5 failures in a row); percent "
            "cleared: objects lifted / objects placed; AP: the share of the first image's "
            + (
                f"grasps (one per detected object, up to {DETECTIONS.max_instances} detections "
                f"with a detection score above {DETECTIONS.score_threshold:g}, so fewer and easier "
                "than a pixel-wise model's 50)"
                if meta.architecture == "ssg"
                else "ranked grasps (up to 50, those above quality 0.05)"
            )
            + " that lift an object from the reset table.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--trials", type=Path, nargs="*", default=[])
    parser.add_argument("--notes", type=Path, help="Markdown placed under the title")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads training used")
    parser.add_argument(
        "--hardware", help="what trained it when not this machine's CPU, e.g. 'NVIDIA H100'"
    )
    args = parser.parse_args()
    out = args.model.with_suffix(".md")
    out.write_text(card(args))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
