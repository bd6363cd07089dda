"""`make demo`: a simulated table cleaned through the real ROS graph.

Starts the node set of `ros2 launch grasp_bringup table_clean.launch.py sim:=true` in this
process (grasp_bringup.runner): the simulated arm, camera and table, grasp inference,
the transform to the base frame and the executor. Sends one CleanTable goal, prints a line
per pick attempt and the totals, and writes out/demo/summary.json and pictures: the first
detections, each attempt's detections with the chosen grasp ringed, and the table after.

    make demo ARGS="--arm ur5 --objects 5 --model grconvnet --seed 0"
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from rclpy.action import ActionClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from grasp_bringup import runner
from grasp_camera.messages import COLOR_TOPIC, image_array
from grasp_core.grasp import ImageGrasp
from grasp_inference.node import DEBUG_IMAGE_TOPIC
from grasp_interfaces.action import CleanTable
from grasp_interfaces.msg import PickStage


def wait(future, timeout: float, what: str):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"no {what} within {timeout:.0f} s")
    return future.result()


class Observer:
    """Keeps the latest camera and debug images and answers ground-truth questions."""

    def __init__(self, graph) -> None:
        self.node = graph.node("demo")
        self.latest: dict[str, Image] = {}
        for topic in (COLOR_TOPIC, DEBUG_IMAGE_TOPIC):
            self.node.create_subscription(
                Image, topic, lambda m, t=topic: self.latest.__setitem__(t, m),
                qos_profile_sensor_data,
            )  # fmt: skip
        self.truth = self.node.create_client(Trigger, "/sim/ground_truth")
        self.clean = ActionClient(self.node, CleanTable, "/clean_table")

    def on_table(self) -> int:
        answer = wait(self.truth.call_async(Trigger.Request()), 10, "ground truth")
        return sum(o["on_table"] for o in json.loads(answer.message)["objects"])

    def save(self, msg: Image | None, path: Path, chosen: ImageGrasp | None = None) -> None:
        if msg is None:
            return
        image = image_array(msg)
        bgr = image if msg.encoding == "bgr8" else image[..., ::-1]
        if chosen is not None:
            bgr = np.ascontiguousarray(bgr)
            centre = (round(chosen.u), round(chosen.v))
            cv2.circle(bgr, centre, round(chosen.width / 2) + 6, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.imwrite(str(path), bgr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="ur5")
    parser.add_argument("--model", default="grconvnet")
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-failures", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900.0, help="s for the whole run")
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("attempt_*.png"):  # a longer earlier run's would look like this one's
        old.unlink()
    given = {"arm": args.arm, "model": args.model, "objects": args.objects, "seed": args.seed}
    graph, _ = runner.start({**given, "sim": True})
    try:
        run(graph, args)
    finally:
        graph.close()


def run(graph, args) -> None:
    observer = Observer(graph)
    if not observer.clean.wait_for_server(timeout_sec=60):
        raise TimeoutError("the executor's /clean_table server did not come up")
    deadline = time.monotonic() + 60
    while COLOR_TOPIC not in observer.latest or DEBUG_IMAGE_TOPIC not in observer.latest:
        if time.monotonic() > deadline:
            raise TimeoutError("no camera frame or detections within 60 s")
        time.sleep(0.1)
    on_table_before = observer.on_table()
    observer.save(observer.latest.get(DEBUG_IMAGE_TOPIC), args.out / "detections_first.png")
    print(f"{args.arm}, {args.model}, {on_table_before} objects on the table; cleaning ...")

    printed = 0
    seen: dict[str, Image] = {}  # the detections each attempt chose from

    def report(last) -> None:
        """One line per finished attempt, and its picture: the detections it chose from,
        the chosen grasp ringed in white."""
        nonlocal printed
        printed = last.attempt
        if "planning" in seen:
            g = last.grasp.image_grasp
            chosen = ImageGrasp(g.u, g.v, g.angle, g.width, g.jaw_length, g.quality)
            observer.save(seen["planning"], args.out / f"attempt_{last.attempt:02d}.png",
                          chosen if last.grasp.quality > 0 else None)  # fmt: skip
        verdict = "picked" if last.success else "failed"
        print(f"attempt {last.attempt:2d}: {verdict:6s} {last.duration:5.1f} s  {last.message}")

    def feedback(msg) -> None:
        if msg.feedback.stage.stage == PickStage.PLANNING and DEBUG_IMAGE_TOPIC in observer.latest:
            seen["planning"] = observer.latest[DEBUG_IMAGE_TOPIC]
        if msg.feedback.last_outcome.attempt > printed:
            report(msg.feedback.last_outcome)

    goal = CleanTable.Goal(max_consecutive_failures=args.max_failures)
    handle = wait(observer.clean.send_goal_async(goal, feedback), 30, "goal acceptance")
    result = wait(handle.get_result_async(), args.timeout, "clean-table result").result
    for last in result.outcomes[printed:]:  # attempts that ended after the last feedback
        report(last)
    time.sleep(0.5)  # the camera's next frame shows the table after the last pick
    observer.save(observer.latest.get(COLOR_TOPIC), args.out / "table_after.png")
    on_table_after = observer.on_table()
    picked = on_table_before - on_table_after
    summary = {
        "arm": args.arm,
        "model": args.model,
        "objects": on_table_before,
        "picked": picked,
        "attempts": result.attempts,
        # An attempt counts as a success when the executor placed an object and the
        # simulator agrees one left the table; neither count alone can inflate the rate.
        "success_rate": round(min(picked, result.picked) / result.attempts, 3)
        if result.attempts
        else 0.0,
        "percent_cleared": round(100.0 * picked / on_table_before, 1) if on_table_before else 0.0,
        "executor_reported_picks": result.picked,
        "stopped": result.message,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{picked} of {on_table_before} objects picked in {result.attempts} attempts: "
        f"success rate {100 * summary['success_rate']:.0f} %, "
        f"{summary['percent_cleared']:.0f} % cleared ({result.message})"
    )
    print(f"summary and pictures in {args.out}/")


if __name__ == "__main__":
    main()
