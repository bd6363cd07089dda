"""`make bench`: batch-1 latency of the stack's networks at 224x224, as a Markdown table.

Each network is timed from the shipped model in models/ whose metadata names the same
architecture and width (trained weights) and otherwise from an untrained export with the
same architecture: latency does not depend on the weights. Figures: the network's GFLOPs,
the FLOP-bound floor on this CPU, the median of ONNX Runtime per available provider and of
torch eager on the same weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from grasp_core.bench import GPU_PROVIDERS, run_bench
from grasp_learning.export import export_onnx, metadata_for, read_onnx_metadata
from grasp_learning.models import build_model

ROOT = Path(__file__).resolve().parents[1]
INPUT_SIZE = (224, 224)

# name -> (architecture, hyper-parameters, target median on the CPU, ms)
NETWORKS = {
    "grconvnet-32": ("grconvnet", {"channels": 32}, 90.0),
    "grconvnet-16": ("grconvnet", {"channels": 16}, 30.0),
    "ggcnn2": ("ggcnn2", {}, 5.0),
}


def shipped_model(architecture: str, hyper: dict) -> Path | None:
    """The model in models/ built with ``architecture`` and ``hyper`` (as far as given)."""
    for path in sorted((ROOT / "models").glob("*.onnx")):
        meta = read_onnx_metadata(path)
        if meta.architecture == architecture and all(
            meta.hyperparameters.get(k) == v for k, v in hyper.items()
        ):
            return path
    return None


def model_file(name: str, out: Path) -> tuple[Path, bool]:
    """The shipped model of ``name`` or an untrained export; True when trained."""
    architecture, hyper, _ = NETWORKS[name]
    shipped = shipped_model(architecture, hyper)
    if shipped is not None:
        return shipped, True
    torch.manual_seed(0)
    network = build_model(architecture, **hyper)
    meta = metadata_for(network, architecture, input_size=INPUT_SIZE)
    return export_onnx(network, meta, out / f"{name}.onnx"), False


def markdown(rows: list[dict]) -> str:
    header = (
        "| network | weights | GFLOP | CPU floor ms | runtime | median ms | vs torch eager |"
        " CPU target ms |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for row in rows:
        r = row["result"]
        for runtime, ms in r["median_ms"].items():
            # Each ONNX Runtime figure is compared with torch eager on the same device.
            on_gpu = any(gpu in runtime for gpu in GPU_PROVIDERS)
            eager = r["median_ms"].get("torch-eager-cuda" if on_gpu else "torch-eager-cpu")
            speedup = f"{eager / ms:.2f}x" if eager and runtime.startswith("onnx") else ""
            target = f"{row['target']:.0f}" if runtime.endswith("CPUExecutionProvider") else ""
            lines.append(
                f"| {row['name']} | {row['weights']} | {r.get('gflops', float('nan')):.2f} | "
                f"{r.get('cpu_floor_ms', float('nan')):.1f} | {runtime} | {ms:.2f} | {speedup} "
                f"| {target} |"
            )
    return "\n".join(lines)


def label_throughput(tables: int = 3) -> dict[str, float]:
    """Dense grasp labelling speed on rendered 640x480 tables of 10 objects (one core)."""
    import time

    import numpy as np

    from grasp_core.camera import D435_COLOR_640X480
    from grasp_sim.labels import label_grasps
    from grasp_sim.objects import sample_objects
    from grasp_sim.scene import TableScene, sample_camera_pose

    seconds, grasps = [], 0
    for seed in range(tables):
        rng = np.random.default_rng(seed)
        objects = sample_objects(rng, 10, "seen")
        scene = TableScene(objects, rng, D435_COLOR_640X480)
        scene.settle()
        frame = scene.render(sample_camera_pose(rng))
        scene.close()
        labels = {k + 1: obj.family for k, obj in enumerate(objects)}
        start = time.perf_counter()
        grasps += len(label_grasps(frame.depth, frame.instance_mask, frame.intrinsics, labels))
        seconds.append(time.perf_counter() - start)
    return {"images_per_s": len(seconds) / sum(seconds), "grasps_per_image": grasps / tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.networks:
        path, trained = model_file(name, args.out)
        result = run_bench(path, runs=args.runs, threads=args.threads)
        print(result.pop("table"), end="\n\n", flush=True)
        rows.append(
            {
                "name": name,
                "weights": "trained" if trained else "untrained",
                "model": str(path.relative_to(ROOT)) if trained else "untrained export",
                "target": NETWORKS[name][2],
                "result": result,
            }
        )
    table = markdown(rows)
    device = rows[0]["result"]["device"]
    if torch.cuda.is_available():
        device += f"; GPU: {torch.cuda.get_device_name(0)}"
    labels = label_throughput()
    table += (
        f"\n\nDense grasp labels (640x480, 18 angles, 4 px grid): "
        f"{labels['images_per_s']:.2f} images/s, {labels['grasps_per_image']:.0f} grasps/image"
    )
    print(f"{device}\n\n{table}")
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    (args.out / "results.md").write_text(f"{device}\n\n{table}\n")


if __name__ == "__main__":
    main()
