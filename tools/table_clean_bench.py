"""Table-clean benchmark: simulated tables of novel objects cleared by each arm, offline.

The loop the ROS graph runs, without ROS and in simulated time: the arm's camera renders
the table (depth sent as 16UC1 mm, as grasp_sim's node does), the model predicts image
grasps (grasp_core.serving), grasp_core.pose.grasps_in_base makes base-frame grasps with
the transform node's settings, and the executor's PickSequence and clean_table run them on
the simulated arm through the built-in backend. Every setting comes from the bringup node
set (src/grasp_bringup/config/table_clean.yaml) over the nodes' defaults. The simulator's
ground truth scores each attempt: it succeeds when the executor reports a pick and an
object has left the table (fallen off its edge or below its top; an object still in the
hand or lodged on the arm above the table has not).

    python tools/table_clean_bench.py --arms ur5 kinova widowx --objects 5 15 --tables 10

An object left on the table at the end is checked with the generated data's labeller
(grasp_sim.labels, noise-free depth from the arm's camera): when no grasp of this gripper
passes its checks there (an upside-down bowl wider than the opening, say), the labels a
model learns from call it ungraspable from that view, and the object counts as without a
grasp. The labeller is strict (friction cone of mu = 0.2): some bowls it rejects are still
lifted by their rims.

prints a Markdown table (arm x objects: tables, attempts, success rate per attempt, percent
cleared, percent of the objects with a grasp cleared, tables cleared, attempts that left an
object on the robot, simulated s per attempt)
and writes out/bench/table_clean.json, out/bench/table_clean.png and, for every failed
attempt, the frame it chose from with the detections drawn and the chosen grasp ringed
(out/bench/failures/).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from grasp_bringup.node_set import load_node_set
from grasp_bringup.runner import TABLE_CLEAN
from grasp_camera.frame import depth_mm
from grasp_core.arm import ArmConfig, load_arm_config
from grasp_core.draw import draw_grasps
from grasp_core.pose import BaseGrasps, TransformSettings, grasps_in_base
from grasp_core.postprocess import PostprocessParams
from grasp_core.serving import open_predictor
from grasp_executor import node as executor_node
from grasp_executor.kinematics import ArmKinematics
from grasp_executor.planning import BuiltinBackend, PickParams
from grasp_executor.sequence import Attempt, Candidate, PickSequence, clean_table
from grasp_inference import node as inference_node
from grasp_sim.labels import label_grasps
from grasp_sim.robot import SimController, SimRobot
from grasp_sim.scene import TABLE_HALF_SIZE
from grasp_transform import node as transform_node

ROOT = Path(__file__).resolve().parents[1]
ARMS_DIR = ROOT / "src/grasp_bringup/config/arms"
DEPTH_SCALE_M = 0.001  # 16UC1 depth on the camera topics is in mm


@dataclass
class TableResult:
    """One table. objects: on the table at the start. picked: attempts the executor reported
    as picks after which an object had left the table. removed: objects that left the table
    in all (a pushed-off object counts here, not in picked). on_robot: attempts after which
    an object that had not left the table touched the robot (not released at the place,
    hooked on a finger, lodged on a link). sim_s: simulated s of all attempts; wall_s:
    wall-clock s of the whole table. left: the family of each object still on the table
    (or on the robot) at the end; without_grasp: those of them on the table on which the
    labeller finds no grasp (see without_grasp())."""

    arm: str
    requested: int
    seed: int
    objects: int
    attempts: int = 0
    picked: int = 0
    removed: int = 0
    on_robot: int = 0
    sim_s: float = 0.0
    wall_s: float = 0.0
    stopped: str = ""
    messages: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    without_grasp: list[str] = field(default_factory=list)


def summarise(tables: list[TableResult]) -> dict:
    """Pooled figures of tables: success_rate = picked / attempts, percent_cleared = removed
    objects / objects at the start (%), graspable_cleared = removed objects / objects at the
    start less those left without a grasp (%), tables_cleared = tables with nothing left on
    them, sim_s_per_attempt = simulated s per attempt."""
    attempts = sum(t.attempts for t in tables)
    objects = sum(t.objects for t in tables)
    removed = sum(t.removed for t in tables)
    graspable = objects - sum(len(t.without_grasp) for t in tables)
    return {
        "tables": len(tables),
        "objects": objects,
        "attempts": attempts,
        "picked": sum(t.picked for t in tables),
        "removed": removed,
        "success_rate": sum(t.picked for t in tables) / attempts if attempts else 0.0,
        "percent_cleared": 100.0 * removed / objects if objects else 0.0,
        "graspable_cleared": 100.0 * removed / graspable if graspable else 0.0,
        "tables_cleared": sum(t.removed == t.objects for t in tables),
        "on_robot": sum(t.on_robot for t in tables),
        "sim_s_per_attempt": sum(t.sim_s for t in tables) / attempts if attempts else 0.0,
        "left_by_family": dict(Counter(f for t in tables for f in t.left).most_common()),
        "without_grasp_by_family": dict(
            Counter(f for t in tables for f in t.without_grasp).most_common()
        ),
    }


def markdown(rows: list[tuple[str, int, dict]]) -> str:
    """The Markdown table of (arm, objects per table, summarise()) rows."""
    lines = [
        "| arm | objects | tables | attempts | success / attempt | cleared "
        "| cleared of those with a grasp | tables cleared | left on robot | sim s / attempt |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm, n, s in rows:
        lines.append(
            f"| {arm} | {n} | {s['tables']} | {s['attempts']} | {100 * s['success_rate']:.1f} % "
            f"| {s['percent_cleared']:.1f} % | {s['graspable_cleared']:.1f} % "
            f"| {s['tables_cleared']}/{s['tables']} "
            f"| {s['on_robot']} | {s['sim_s_per_attempt']:.1f} |"
        )
    return "\n".join(lines)


def node_parameters(arm: str, model: str) -> dict[str, dict]:
    """Each node's parameters as the bringup runs them: the node's defaults, then the
    table_clean.yaml node set's values for this arm and model."""
    _, specs = load_node_set(TABLE_CLEAN, {"arm": arm, "model": model, "sim": True})
    given = {spec.name: spec.parameters for spec in specs}
    defaults = {
        "grasp_inference": inference_node.PARAMETERS,
        "grasp_transform": transform_node.PARAMETERS,
        "grasp_executor": executor_node.PARAMETERS,
    }
    return {name: {**d, **given.get(name, {})} for name, d in defaults.items()}


def remaining(robot: SimRobot) -> np.ndarray:
    """(K,) bool: the object has not left the table: it lies on it, or is above it in the
    hand or on the arm (SimRobot's ground truth, table footprint in the world frame)."""
    position = robot.scene.object_positions()
    return (np.abs(position[:, :2]).max(1) < TABLE_HALF_SIZE) & (position[:, 2] > -0.01)


def without_grasp(robot: SimRobot, which: np.ndarray) -> np.ndarray:
    """(K,) bool: the objects of ``which`` (K,) on which grasp_sim.labels, the generated
    data's labeller, finds no grasp of the arm's gripper in a noise-free view from the arm's
    camera. Everything else in view (other objects, the arm) stays an obstacle."""
    if not which.any():  # a cleared table: no render, no labelling
        return which.copy()
    frame = robot.scene.render(robot.camera)
    ids = np.flatnonzero(which) + 1  # the instance mask holds object index + 1
    mask = np.where(np.isin(frame.instance_mask, ids), frame.instance_mask, 0)
    grasps = label_grasps(
        frame.depth, mask, frame.intrinsics, dict.fromkeys(ids.tolist(), ""),
        robot.config.gripper,
    )  # fmt: skip
    with_grasp = np.isin(np.arange(len(which)) + 1, [g.instance_id for g in grasps])
    return which & ~with_grasp


class Bench:
    """One arm and model: tables cleaned with the node set's settings."""

    def __init__(self, arm: str, model_path: Path, out: Path) -> None:
        self.config: ArmConfig = load_arm_config(ARMS_DIR / f"{arm}.yaml")
        self.kinematics = ArmKinematics(self.config)
        p = node_parameters(arm, model_path.stem)
        inference, transform, self.executor = (
            p["grasp_inference"], p["grasp_transform"], p["grasp_executor"]
        )  # fmt: skip
        self.predictor = open_predictor(
            model_path,
            providers=list(inference["providers"]),
            params=PostprocessParams(
                max_grasps=inference["max_grasps"], threshold=inference["min_quality"]
            ),
        )
        self.settings = TransformSettings.from_parameters(
            transform, self.config.workspace, self.config.gripper
        )
        self.params = PickParams.from_parameters(self.executor)
        self.place = self.config.places[self.executor["place_location"]]
        self.failures = out / "failures"

    def candidates(self, base: BaseGrasps, grasps: list) -> list[Candidate]:
        """What DetectGrasps hands the executor: base-frame grasps at or above the
        executor's min_quality, best first; each keeps its image grasp as its source. Widths
        are rounded to float32 as grasp_interfaces/Grasp carries them."""
        return [
            Candidate(pose.matrix(), float(np.float32(pose.width)), pose.quality, source=grasps[i])
            for k, i in enumerate(base.indices)
            if (pose := base.poses.pose(k)).quality >= self.executor["min_quality"]
        ]

    def table(self, objects: int, seed: int, max_failures: int, max_attempts: int) -> TableResult:
        """Clean one table of ``objects`` novel objects dropped by ``seed``, stopping after
        ``max_attempts`` attempts."""
        start = time.monotonic()
        robot = SimRobot(self.config, objects=objects, seed=seed)
        try:
            return self._clean(robot, objects, seed, max_failures, max_attempts, start)
        finally:
            robot.close()

    def _clean(self, robot, objects, seed, max_failures, max_attempts, start) -> TableResult:
        def on_table() -> int:
            return int(remaining(robot).sum())

        result = TableResult(self.config.arm, objects, seed, on_table())
        seen: dict = {}  # the frame and detections the next attempt chooses from
        state = {"on_table": result.objects, "t": robot.time, "limited": False}

        def detect() -> list[Candidate]:
            # An object left in the hand makes every later grasp close on it and count as a
            # pick, so failures never pile up: the limit ends such a table.
            if result.attempts >= max_attempts:
                state["limited"] = True
                return []
            frame = robot.render()
            depth = depth_mm(frame.depth)
            prediction = self.predictor.predict(frame.rgb, depth, DEPTH_SCALE_M)
            base = grasps_in_base(
                prediction.grasps, depth, frame.intrinsics, self.config.camera, self.settings,
                self.config.base_link, DEPTH_SCALE_M,
            )  # fmt: skip
            seen.update(rgb=frame.rgb, grasps=prediction.grasps)
            return self.candidates(base, prediction.grasps)

        sequence = PickSequence(
            BuiltinBackend(self.kinematics, SimController(robot), self.params),
            self.config.gripper.max_opening,
            holding_min_m=self.executor["holding_min_m"],
            max_candidates=self.executor["max_candidates"],
            tight_fit_m=self.executor["tight_fit_m"],
            shakes=self.executor["release_shakes"],
        )

        def scored(attempt: Attempt) -> None:
            now = on_table()
            gone = state["on_table"] - now
            state["on_table"] = now
            result.attempts += 1
            result.picked += attempt.success and gone > 0
            result.sim_s += robot.time - state["t"]
            state["t"] = robot.time
            verdict = "picked" if attempt.success and gone > 0 else "failed"
            stuck = bool((remaining(robot) & robot.on_robot()).any())
            result.on_robot += stuck
            note = " (an object stayed on the robot)" if stuck else ""
            result.messages.append(f"{verdict}: {attempt.message}{note}")
            if verdict == "failed":
                chosen = attempt.candidate.source if attempt.candidate else None
                self._picture(result, f"attempt{result.attempts:02d}", seen, chosen)

        run = clean_table(
            detect, lambda c: sequence.pick(c, self.place), 0, max_failures, on_attempt=scored
        )
        result.removed = result.objects - on_table()
        left = remaining(robot)
        families = [o.family for o in robot.scene.objects]
        result.left = [f for f, k in zip(families, left, strict=True) if k]
        no_grasp = without_grasp(robot, left & ~robot.on_robot())
        result.without_grasp = [f for f, k in zip(families, no_grasp, strict=True) if k]
        limited = state["limited"]
        result.stopped = f"stopped at {max_attempts} attempts" if limited else run.message
        if result.removed < result.objects:
            self._picture(result, "end", seen, None)
        result.wall_s = time.monotonic() - start
        return result

    def _picture(self, result: TableResult, what: str, seen: dict, chosen) -> None:
        """The frame an attempt chose from, detections drawn, the chosen grasp ringed."""
        if "rgb" not in seen:
            return
        bgr = draw_grasps(seen["rgb"], seen["grasps"])
        if chosen is not None:
            centre = (round(chosen.u), round(chosen.v))
            cv2.circle(bgr, centre, round(chosen.width / 2) + 6, (255, 255, 255), 2, cv2.LINE_AA)
        self.failures.mkdir(parents=True, exist_ok=True)
        name = f"{result.arm}_{result.requested}obj_seed{result.seed}_{what}.png"
        cv2.imwrite(str(self.failures / name), bgr)


def source_version() -> str:
    """The commit the source is at, with ' + uncommitted changes' when src/ differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "src").strip() else ""
    return git("rev-parse", "--short", "HEAD").strip() + dirty


def plot(rows: list[tuple[str, int, dict]], path: Path) -> None:
    """Success rate per attempt and percent cleared per arm x objects, as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{arm}\n{n} objects" for arm, n, _ in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(rows) + 1), 3.6))
    for offset, key, label, scale in (
        (-0.2, "success_rate", "success per attempt", 100.0),
        (0.2, "percent_cleared", "cleared", 1.0),
    ):
        values = [scale * s[key] for _, _, s in rows]
        bars = ax.bar(x + offset, values, 0.4, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 125)
    ax.set_ylabel("%")
    ax.set_title("table clean, simulated novel objects")
    ax.legend(loc="upper center", ncols=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", default=["ur5"], help="config/arms/<arm>.yaml")
    parser.add_argument("--objects", type=int, nargs="+", default=[5], help="per table")
    parser.add_argument("--tables", type=int, default=3, help="per arm and object count")
    parser.add_argument("--model", default="grconvnet", help="models/<model>.onnx or a path")
    parser.add_argument("--seed", type=int, default=0, help="table k is dropped by seed + k")
    parser.add_argument("--max-failures", type=int, default=5, help="failed attempts in a row")
    parser.add_argument("--max-attempts", type=int, default=4, help="per object on a table")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    args = parser.parse_args(argv)
    model = Path(args.model)
    model = model if model.suffix == ".onnx" else ROOT / "models" / f"{args.model}.onnx"
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [(arm, n) for arm in args.arms for n in args.objects]
    rows, report = [], []
    progress = tqdm(total=len(runs) * args.tables, unit="table")
    for arm in args.arms:
        bench = Bench(arm, model, args.out)
        for n in args.objects:
            tables = []
            for k in range(args.tables):
                tables.append(
                    bench.table(n, args.seed + k, args.max_failures, args.max_attempts * n)
                )
                s = summarise(tables)
                progress.set_postfix_str(
                    f"{arm} {n} obj: {100 * s['success_rate']:.0f} % / attempt, "
                    f"{s['percent_cleared']:.0f} % cleared"
                )
                progress.update()
            rows.append((arm, n, summarise(tables)))
            report.append({"arm": arm, "objects": n, "summary": rows[-1][2],
                           "tables": [asdict(t) for t in tables]})  # fmt: skip
    progress.close()
    version = source_version()
    print(f"model {model.name}, seeds {args.seed}..{args.seed + args.tables - 1}, {version}")
    print(markdown(rows))
    for arm, n, s in rows:
        left = ", ".join(f"{family} {count}" for family, count in s["left_by_family"].items())
        print(f"left on {arm}'s {n}-object tables, by family: {left or 'nothing'}")
        none = ", ".join(f"{f} {c}" for f, c in s["without_grasp_by_family"].items())
        print(f"  of them on the table without a grasp for the gripper: {none or 'none'}")
    summary = {"model": model.name, "seed": args.seed, "source": version, "runs": report}
    (args.out / "table_clean.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, args.out / "table_clean.png")
    print(f"results in {args.out / 'table_clean.json'}, {args.out / 'table_clean.png'}")


if __name__ == "__main__":
    main()
