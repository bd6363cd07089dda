"""Soak of the perception graph: a replayed camera at 30 Hz into inference and transform.

Runs grasp_camera (replay source), grasp_inference and grasp_transform of the bringup node
set (src/grasp_bringup/config/table_clean.yaml, real camera branch) in one process, or with
--processes each in its own process as `ros2 launch` runs them, on a private DDS domain,
with a monitor node that counts frames in (camera_info), detections out and grasp arrays
out, keeps the inference and transform nodes' diagnostics and every warning or error the
nodes log on /rosout, and samples the resident memory of the soak's processes every
--sample-s seconds.

    python tools/soak.py --minutes 10 [--processes]

prints the input rate achieved, the output rates, the frames the inference node dropped
(drop, don't queue: it always serves the newest frame), memory at start and end and its
slope (MB/min, after the first minute), the node errors, and the per-frame pipeline
overhead at 640x480 without the model: the inference node's pre- and post-processing
medians plus the transform node's detections -> base-frame grasps median, from their
diagnostics. Those are measured twice: under the soak's load, and in a quiet pass after
it, in which a fresh graph replays at --quiet-rate-hz (2 Hz: the model keeps up, so each
frame goes through the nodes with nothing else running). Also timed: the transform on
grasp_transform.bench's synthetic frame, whose ten grasps the finger check all blocks (its
worst case). Writes out/bench/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo

from grasp_bringup.dds import profile_environment
from grasp_bringup.graph import NodeGraph
from grasp_bringup.node_set import load_node_set
from grasp_bringup.runner import TABLE_CLEAN, node_class
from grasp_camera.messages import CAMERA_INFO_TOPIC
from grasp_inference.node import DETECTIONS_TOPIC
from grasp_interfaces.msg import GraspArray, ImageGraspArray
from grasp_transform.bench import overhead_ms
from grasp_transform.node import GRASPS_TOPIC

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "src/grasp_bringup/config/fastdds.xml"
NODES = ("grasp_camera", "grasp_inference", "grasp_transform")
WARMUP_S = 60.0  # memory slope is fitted after this: allocator pools and DDS history fill


def rss_mb(pids: Sequence[int] = ()) -> float:
    """Resident memory of this process and of the processes ``pids``, MB (from /proc)."""
    total = 0.0
    for pid in ("self", *pids):
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        kb = next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), None)
        if kb is None:
            raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
        total += kb / 1024.0
    return total


def slope_mb_per_min(samples: list[tuple[float, float]], after_s: float = WARMUP_S) -> float:
    """Least-squares slope (MB/min) of (s, MB) samples taken after ``after_s`` s; all samples
    when fewer than three come after it; 0 for fewer than two."""
    late = [s for s in samples if s[0] >= after_s]
    use = late if len(late) >= 3 else samples
    if len(use) < 2:
        return 0.0
    t, mb = np.array(use).T
    return float(np.polyfit(t / 60.0, mb, 1)[0])


@dataclass
class Counts:
    """What the monitor has seen: messages per topic, the latest inference and transform
    diagnostics (key -> value), and the warnings and errors logged by the soaked nodes."""

    frames: int = 0
    detections: int = 0
    grasp_arrays: int = 0
    grasps: int = 0
    inference: dict[str, str] = field(default_factory=dict)
    transform: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Monitor:
    """A node in the graph that fills a Counts."""

    def __init__(self, graph: NodeGraph) -> None:
        self.counts = Counts()
        self.lock = threading.Lock()
        node = graph.node("soak_monitor")
        # camera_info stands for the camera's frames: the driver sends it with every frame,
        # and counting it spares the monitor deserialising 640x480 images.
        node.create_subscription(CameraInfo, CAMERA_INFO_TOPIC, lambda m: self._count("frames"),
                                 qos_profile_sensor_data)  # fmt: skip
        node.create_subscription(
            ImageGraspArray, DETECTIONS_TOPIC, lambda m: self._count("detections"), 10
        )
        node.create_subscription(GraspArray, GRASPS_TOPIC, self._on_grasps, 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        node.create_subscription(Log, "/rosout", self._on_log, 100)

    def _count(self, name: str) -> None:
        with self.lock:
            setattr(self.counts, name, getattr(self.counts, name) + 1)

    def _on_grasps(self, msg: GraspArray) -> None:
        with self.lock:
            self.counts.grasp_arrays += 1
            self.counts.grasps += len(msg.grasps)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            node = status.name.removeprefix("grasp_")
            if node in ("inference", "transform"):
                values = {kv.key: kv.value for kv in status.values} | {"status": status.message}
                with self.lock:
                    setattr(self.counts, node, values)

    def _on_log(self, msg: Log) -> None:
        if msg.name not in NODES or msg.level < Log.WARN:
            return
        with self.lock:
            kind = self.counts.errors if msg.level >= Log.ERROR else self.counts.warnings
            kind.append(f"{msg.name}: {msg.msg}")

    def snapshot(self) -> Counts:
        with self.lock:
            c = self.counts
            return Counts(c.frames, c.detections, c.grasp_arrays, c.grasps, dict(c.inference),
                          dict(c.transform), list(c.warnings), list(c.errors))  # fmt: skip


def node_specs(args: argparse.Namespace) -> list:
    """The soaked nodes' specs in the node set (real camera branch)."""
    given = {"arm": args.arm, "model": args.model, "sim": False}
    return [spec for spec in load_node_set(TABLE_CLEAN, given)[1] if spec.name in NODES]


def start_graph(
    args: argparse.Namespace, rate_hz: float, workdir: Path
) -> tuple[NodeGraph, Monitor, list[subprocess.Popen]]:
    """The soaked nodes with the node set's parameters, the camera replaying at rate_hz, in
    this process's graph beside the monitor, or (args.processes) each in its own process
    through its main() with the bringup's Fast DDS profile, as `ros2 launch` starts them;
    then also returns those processes."""
    camera = {"source": "replay", "replay_path": str(args.replay), "rate_hz": rate_hz}
    graph = NodeGraph(domain_id=args.domain_id, num_threads=8)
    processes: list[subprocess.Popen] = []
    try:
        monitor = Monitor(graph)
        for spec in node_specs(args):
            values = spec.parameters | (camera if spec.name == "grasp_camera" else {})
            if args.processes:
                processes.append(start_process(spec, values, args.domain_id, workdir))
                continue
            overrides = [Parameter(k, value=v) for k, v in values.items()]
            graph.add(node_class(spec)(context=graph.context, parameter_overrides=overrides))
    except BaseException:
        stop_processes(processes)
        graph.close()
        raise
    return graph, monitor, processes


def start_process(spec, values: dict, domain_id: int, workdir: Path) -> subprocess.Popen:
    """The node of ``spec`` in a new process (its module's main()), its parameters from a
    ROS parameters file."""
    params = workdir / f"{spec.name}.yaml"
    params.write_text(yaml.safe_dump({spec.name: {"ros__parameters": values}}))
    module = spec.node_class.partition(":")[0]
    env = os.environ | profile_environment(PROFILE) | {"ROS_DOMAIN_ID": str(domain_id)}
    return subprocess.Popen(
        [sys.executable, "-c", f"from {module} import main; main()",
         "--ros-args", "--params-file", str(params)],
        env=env,
    )  # fmt: skip


def stop_processes(processes: list[subprocess.Popen], timeout_s: float = 10.0) -> None:
    """Stop each node process as Ctrl-C does; kill what has not ended in time."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_window(
    args: argparse.Namespace, rate_hz: float, seconds: float, progress: bool
) -> tuple[Counts, Counts, float, list[tuple[float, float]]]:
    """Runs a fresh graph replaying at rate_hz for ``seconds`` once the model serves;
    returns the counts at the start and the end of that window, its length (s) and the
    (s, RSS MB) samples taken every args.sample_s."""
    # The nodes' parameter files (--processes) live as long as the window.
    with tempfile.TemporaryDirectory(prefix="soak_") as workdir:
        return _run_window(args, rate_hz, seconds, progress, Path(workdir))


def _run_window(
    args: argparse.Namespace, rate_hz: float, seconds: float, progress: bool, workdir: Path
) -> tuple[Counts, Counts, float, list[tuple[float, float]]]:
    graph, monitor, processes = start_graph(args, rate_hz, workdir)
    pids = [process.pid for process in processes]
    try:
        deadline = time.monotonic() + 60.0
        # The model loads and warms up first; the window opens with detections and the
        # inference node's counters both in hand.
        while not ((c := monitor.snapshot()).detections and "frames processed" in c.inference):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no detections and diagnostics within 60 s: {c}")
            time.sleep(0.1)
        first, t0 = monitor.snapshot(), time.monotonic()
        samples = [(0.0, rss_mb(pids))]
        while (elapsed := time.monotonic() - t0) < seconds:
            time.sleep(min(args.sample_s, seconds - elapsed))
            now, c = time.monotonic() - t0, monitor.snapshot()
            samples.append((round(now, 1), round(rss_mb(pids), 1)))
            if progress:
                print(
                    f"{now:6.0f} s: {(c.frames - first.frames) / now:5.1f} frames/s in, "
                    f"{(c.detections - first.detections) / now:5.1f} detections/s, "
                    f"RSS {samples[-1][1]:.0f} MB, {len(c.errors)} errors", flush=True,
                )  # fmt: skip
        return first, monitor.snapshot(), time.monotonic() - t0, samples
    finally:
        stop_processes(processes)
        graph.close()


def soak(args: argparse.Namespace) -> dict:
    first, last, elapsed, samples = run_window(args, args.rate_hz, 60.0 * args.minutes, True)
    # The same graph at a rate the model keeps up with, so that each frame goes through
    # camera, inference and transform with nothing else running: the overhead on real
    # frames without the soak's load.
    print(f"quiet pass: {args.quiet_s:.0f} s at {args.quiet_rate_hz:.0f} Hz", flush=True)
    _, quiet, _, _ = run_window(args, args.quiet_rate_hz, args.quiet_s, False)
    return report(first, last, elapsed, samples, quiet, args)


def diag(counts: Counts, key: str, node: str = "inference") -> float:
    return float(getattr(counts, node).get(key, "nan"))


def overhead(counts: Counts) -> dict[str, float]:
    """Per-frame pipeline overhead (ms, model excluded) from the nodes' rolling medians."""
    parts = {
        "preprocess": diag(counts, "preprocess_ms median"),
        "postprocess": diag(counts, "postprocess_ms median"),
        "transform": diag(counts, "transform_ms median", "transform"),
    }
    return parts | {"total": sum(parts.values())}


def report(first: Counts, last: Counts, elapsed: float, samples, quiet: Counts, args) -> dict:
    """The soak's figures; counts are differences over the measured window."""
    synthetic_ms, _ = overhead_ms(n_grasps=10, repeats=args.overhead_repeats)
    frames = last.frames - first.frames
    processed = diag(last, "frames processed") - diag(first, "frames processed")
    dropped = diag(last, "frames dropped") - diag(first, "frames dropped")
    arrays = last.grasp_arrays - first.grasp_arrays
    return {
        "minutes": elapsed / 60.0,
        "rate_hz_requested": args.rate_hz,
        "input_hz": frames / elapsed,
        "detections_hz": (last.detections - first.detections) / elapsed,
        "grasp_arrays_hz": arrays / elapsed,
        "grasps_per_array": (last.grasps - first.grasps) / arrays if arrays else 0.0,
        "frames_in": frames,
        "frames_processed": processed,
        "frames_dropped": dropped,
        "frames_failed": diag(last, "frames failed") - diag(first, "frames failed"),
        "inference_ms_median": {
            k.removesuffix("_ms median"): diag(last, k)
            for k in last.inference
            if k.endswith("_ms median")
        },
        "rss_mb_start": samples[0][1],
        "rss_mb_end": samples[-1][1],
        "rss_slope_mb_per_min": slope_mb_per_min(samples),
        "rss_samples": samples,
        "errors": last.errors + quiet.errors,
        "warnings": (last.warnings + quiet.warnings)[:20],
        "warning_count": len(last.warnings) + len(quiet.warnings),
        "overhead_ms": overhead(last),
        "quiet_overhead_ms": {
            **overhead(quiet),
            "rate_hz": args.quiet_rate_hz,
            "frames": diag(quiet, "frames transformed", "transform"),
        },
        "transform_synthetic_ms_median": float(np.median(synthetic_ms)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate-hz", type=float, default=30.0, help="camera frames/s")
    parser.add_argument("--replay", type=Path, default=ROOT / "data" / "test_novel")
    parser.add_argument("--model", default="grconvnet")
    parser.add_argument("--arm", default="ur5", help="its YAML gives the transform's settings")
    parser.add_argument("--sample-s", type=float, default=10.0, help="memory sampling period")
    parser.add_argument(
        "--processes", action="store_true",
        help="each node in its own process, as ros2 launch runs them (default: one process)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet-rate-hz",
        type=float,
        default=2.0,
        help="camera rate of the quiet pass, well below the model's",
    )
    parser.add_argument("--quiet-s", type=float, default=40.0, help="length of the quiet pass")
    parser.add_argument("--overhead-repeats", type=int, default=200)
    parser.add_argument(
        "--domain-id", type=int, default=101 + os.getpid() % 100,
        help="DDS domain (default: one private to this process)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    args = parser.parse_args(argv)
    # Discovery stays on this machine, so other graphs cannot feed the counts.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    r = soak(args)
    o, q = r["overhead_ms"], r["quiet_overhead_ms"]
    print(
        f"\n{r['minutes']:.1f} min at {r['rate_hz_requested']:.0f} Hz requested: "
        f"input {r['input_hz']:.1f} frames/s, detections {r['detections_hz']:.2f}/s, "
        f"grasp arrays {r['grasp_arrays_hz']:.2f}/s ({r['grasps_per_array']:.1f} grasps each)\n"
        f"inference: {r['frames_processed']:.0f} frames processed, {r['frames_dropped']:.0f} "
        f"dropped (newest frame served), {r['frames_failed']:.0f} failed; medians (ms) "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["inference_ms_median"].items())
        + f"\nRSS {r['rss_mb_start']:.0f} MB -> {r['rss_mb_end']:.0f} MB, slope "
        f"{r['rss_slope_mb_per_min']:+.2f} MB/min after the first minute\n"
        f"node errors: {len(r['errors'])}, warnings: {r['warning_count']}\n"
        f"pipeline overhead per frame (model excluded): preprocess {o['preprocess']:.2f}"
        f" + postprocess {o['postprocess']:.2f} + transform {o['transform']:.2f}"
        f" = {o['total']:.2f} ms (medians under the soak's load); with nothing else running "
        f"({q['frames']:.0f} frames at {q['rate_hz']:.0f} Hz) {q['preprocess']:.2f} + "
        f"{q['postprocess']:.2f} + {q['transform']:.2f} = {q['total']:.2f} ms; the transform "
        f"on the synthetic frame, every grasp blocked: {r['transform_synthetic_ms_median']:.2f}"
        " ms"
    )
    for line in r["errors"][:10]:
        print(f"  error: {line}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(r, indent=2) + "\n")
    print(f"results in {args.out / 'soak.json'}")


if __name__ == "__main__":
    main()
