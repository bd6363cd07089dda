"""SSG end to end with decoding in numpy (as served) against decoding inside the graph.

Builds the in-graph variant of an SSG model (grasp_learning.ssg_decoding.append_decoding),
checks on every frame that both ways give the same instances and grasps, and times them
frame by frame in turn on replayed frames, batch 1, through ONNX Runtime with the same
session options:

    python tools/ssg_decoding_bench.py [--model models/ssg.onnx] [--frames 20] [--repeats 3]
        [--providers CUDAExecutionProvider CPUExecutionProvider] [--threads N]

prints the median ms of preprocessing, the graph run and the Python after it for each way
and the end-to-end medians, and writes out/bench/ssg_decoding.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from grasp_camera.sources import ReplaySource
from grasp_core.preprocess import make_input
from grasp_core.serving import INPUT_NAME, InstancePredictor, choose_providers
from grasp_learning.ssg_decoding import DECODED_OUTPUTS, append_decoding, decoded_instances

ROOT = Path(__file__).resolve().parents[1]


def same_result(a, b) -> bool:
    """Whether two (instances, grasps) decodings agree (labels, boxes, masks, grasps)."""
    (ia, ga), (ib, gb) = a, b
    if len(ia) != len(ib) or len(ga) != len(gb):
        return False
    instances = all(
        x.label == y.label and np.allclose(x.box, y.box, atol=1e-3) and (x.mask == y.mask).all()
        for x, y in zip(ia, ib, strict=True)
    )
    grasps = all(
        np.allclose(
            [x.u, x.v, x.angle, x.width, x.quality],
            [y.u, y.v, y.angle, y.width, y.quality],
            atol=1e-3,
        )
        for x, y in zip(ga, gb, strict=True)
    )  # fmt: skip
    return instances and grasps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "ssg.onnx")
    parser.add_argument("--replay", type=Path, default=ROOT / "data" / "test_novel")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--providers", nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    args = parser.parse_args(argv)

    numpy_way = InstancePredictor(args.model, args.providers, threads=args.threads)
    metadata, params = numpy_way.metadata, numpy_way.params
    with tempfile.TemporaryDirectory() as tmp:
        path = append_decoding(args.model, Path(tmp) / "ssg_in_graph.onnx", metadata, params)
        session = ort.InferenceSession(
            str(path), numpy_way.session.get_session_options(), choose_providers(args.providers)
        )
    source = ReplaySource(args.replay)
    frames = [source.read() for _ in range(args.frames)]
    source.close()
    times: dict[str, list[tuple[float, float, float]]] = {"numpy": [], "in_graph": []}
    mismatches, x = 0, None
    for _ in tqdm(range(args.repeats), desc="repeats"):
        for frame in frames:
            served = numpy_way.predict(frame.rgb, frame.depth_mm)
            times["numpy"].append(
                (served.preprocess_ms, served.inference_ms, served.postprocess_ms)
            )
            t0 = time.perf_counter()
            x, crop = make_input(frame.rgb, frame.depth_mm, metadata, out=x)
            t1 = time.perf_counter()
            outputs = session.run(list(DECODED_OUTPUTS), {INPUT_NAME: x})
            t2 = time.perf_counter()
            instances, grasps = decoded_instances(
                dict(zip(DECODED_OUTPUTS, outputs, strict=True)), metadata, params
            )
            grasps = [crop.grasp_to_image(g) for g in grasps]
            t3 = time.perf_counter()
            times["in_graph"].append(((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3))
            mismatches += not same_result((instances, grasps), (served.instances, served.grasps))
    report = {
        "model": str(args.model), "providers": session.get_providers(),
        "frames": len(times["numpy"]), "mismatches": mismatches,
    }  # fmt: skip
    for way, rows in times.items():
        pre, run, after = np.median(np.array(rows), axis=0)
        total = float(np.median(np.array(rows).sum(axis=1)))
        report[way] = {"preprocess_ms": pre, "run_ms": run, "after_ms": after, "total_ms": total}
        print(
            f"{way:9s}: preprocess {pre:6.2f}  graph run {run:6.2f}  python after {after:6.2f}"
            f"  end to end {total:6.2f} ms (medians)"
        )
    print(
        f"{report['frames']} frames on {report['providers'][0]}, {mismatches} decoded differently"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ssg_decoding.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
