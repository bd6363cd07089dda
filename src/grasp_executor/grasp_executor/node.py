"""grasp_executor: the PickObject and CleanTable action servers.

Each pick asks /grasp/detect_grasps for grasps in the base frame, then runs the pick
sequence (grasp_executor.sequence) on the configured motion backend: 'builtin' (pinocchio
inverse kinematics, joint trajectories on the controller topic) or 'moveit' (moveit_py,
on a ROS install). One goal runs at a time; a new goal preempts the running one, and a
cancel stops the arm where it is.
"""

from __future__ import annotations

import threading

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from grasp_core.arm import load_arm_config
from grasp_core.callback_pool import queue_callbacks_once
from grasp_core.frames import transform_from_xyz_quat
from grasp_core.node import run_node
from grasp_executor.controller import MotionError, RosJointController
from grasp_executor.kinematics import ArmKinematics, WorkspaceError
from grasp_executor.planning import BuiltinBackend, PickParams, PlanningError
from grasp_executor.sequence import (
    Attempt,
    Cancelled,
    Candidate,
    PickSequence,
    Stage,
    clean_table,
)  # fmt: skip
from grasp_interfaces.action import CleanTable, PickObject
from grasp_interfaces.msg import Grasp, PickOutcome, PickStage
from grasp_interfaces.srv import DetectGrasps

PARAMETERS = {
    "arm_config": "",  # per-arm YAML (src/grasp_bringup/config/arms/<arm>.yaml)
    "backend": "builtin",  # builtin | moveit
    "trajectory_topic": "/arm_controller/joint_trajectory",
    "gripper_topic": "/gripper/command",
    "gripper_joint": "gripper_opening",  # joint of /joint_states whose position is the opening, m
    "place_location": "bin",  # default named place of the arm config
    "min_quality": 0.2,
    "max_candidates": 5,
    "tight_fit_m": 0.005,  # grasps this close to the max opening are tried after the others
    "holding_min_m": 0.004,  # a closed gripper wider than this holds something
    "release_shakes": 2,  # shakes over the place for an object found in the hand at a pick
    "detect_timeout_s": 10.0,
    "approach_m": 0.10,
    "lift_m": 0.15,
    "max_lean_rad": 0.52,  # a grasp out of reach straight down may lean toward the base
}


class GoalError(RuntimeError):
    """A goal cannot go on: detection failed (no frame, inference or transform error) or the
    goal names an unknown place."""


def candidate(grasp: Grasp) -> Candidate:
    p, q = grasp.pose.pose.position, grasp.pose.pose.orientation
    pose = transform_from_xyz_quat([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])
    return Candidate(pose, grasp.width, grasp.quality, grasp.label, grasp)


def outcome(number: int, attempt: Attempt) -> PickOutcome:
    msg = PickOutcome(attempt=number, success=attempt.success, message=attempt.message)
    msg.stage = PickStage(stage=int(attempt.stage))
    msg.duration = float(attempt.duration)
    if attempt.candidate is not None:
        msg.grasp, msg.label = attempt.candidate.source, attempt.candidate.label
    return msg


class ExecutorNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_executor", **kwargs)
        self.p = {n: self.declare_parameter(n, d).value for n, d in PARAMETERS.items()}
        self.config = load_arm_config(self.p["arm_config"])
        group = ReentrantCallbackGroup()
        self._goal_lock = threading.Lock()  # one goal moves the arm at a time
        self._active: object | None = None  # the goal handle allowed to run
        self._thread_local = threading.local()  # the goal the calling thread executes
        self.controller = RosJointController(
            self, self.config.joint_names, self.p["trajectory_topic"], self.p["gripper_topic"],
            self.p["gripper_joint"], cancelled=self._should_stop,
        )  # fmt: skip
        params = PickParams.from_parameters(self.p)
        if self.p["backend"] == "moveit":
            from grasp_executor.moveit_backend import MoveItBackend

            self.backend = MoveItBackend(self.config, self.controller, params)
        else:
            self.backend = BuiltinBackend(ArmKinematics(self.config), self.controller, params)
        self.detect_client = self.create_client(
            DetectGrasps, "/grasp/detect_grasps", callback_group=group
        )
        common = {
            "goal_callback": lambda _: GoalResponse.ACCEPT,
            "cancel_callback": lambda _: CancelResponse.ACCEPT,
            "handle_accepted_callback": self._preempt_and_run,
            "callback_group": group,
        }
        ActionServer(self, PickObject, "/pick_object", self._pick_object, **common)
        ActionServer(self, CleanTable, "/clean_table", self._clean_table, **common)

    # -- goals ------------------------------------------------------------------------------
    def _preempt_and_run(self, goal_handle) -> None:
        self._active = goal_handle  # the running goal sees it is no longer active and stops
        goal_handle.execute()

    def _should_stop(self) -> bool:
        handle = getattr(self._thread_local, "goal", None)
        return handle is not None and (handle.is_cancel_requested or handle is not self._active)

    def _run(self, goal_handle, result, body):
        """Run body(result) as the goal; the result keeps what was done if it stops early.
        body returns whether the goal succeeded."""
        with self._goal_lock:
            self._thread_local.goal = goal_handle
            try:
                if goal_handle is not self._active:
                    raise Cancelled("preempted by a newer goal")
                succeeded = body(result)
                goal_handle.succeed() if succeeded else goal_handle.abort()
            except Cancelled as err:
                if goal_handle.is_cancel_requested:
                    result.message = "cancelled; the arm stopped where it was"
                    goal_handle.canceled()
                else:
                    result.message = str(err)
                    goal_handle.abort()
            except (MotionError, GoalError, PlanningError, WorkspaceError) as err:
                self.get_logger().error(str(err))
                result.message = str(err)
                goal_handle.abort()
            finally:
                self._thread_local.goal = None
            return result

    def _pick_object(self, goal_handle):
        goal = goal_handle.request

        def body(result: PickObject.Result) -> bool:
            place = self._place(goal.place_location, goal.place_pose)
            sequence = self._sequence(goal_handle, result.outcomes)
            attempt = self._attempt(sequence, goal.target_label, place, result.outcomes)
            result.success, result.message = attempt.success, attempt.message
            if attempt.candidate is not None:
                result.grasp = attempt.candidate.source
            return attempt.success

        return self._run(goal_handle, PickObject.Result(), body)

    def _clean_table(self, goal_handle):
        goal = goal_handle.request
        labels = list(goal.labels) or [""]

        def detect() -> list[Candidate]:
            found = [c for label in labels for c in self._detect(label)]
            return sorted(found, key=lambda c: -c.quality)

        def body(result: CleanTable.Result) -> bool:
            place = self._place(goal.place_location, None)
            sequence = self._sequence(goal_handle, result.outcomes)

            def pick(candidates: list[Candidate]) -> Attempt:
                return self._attempt(sequence, "", place, result.outcomes, candidates)

            def log(attempt: Attempt) -> None:
                result.attempts = len(result.outcomes)
                result.picked += attempt.success
                result.failures = result.attempts - result.picked
                self.get_logger().info(
                    f"attempt {result.attempts}: "
                    f"{'picked' if attempt.success else 'failed'}: {attempt.message}"
                )

            run = clean_table(
                detect, pick, goal.max_objects, goal.max_consecutive_failures, on_attempt=log
            )
            result.message = run.message
            return True

        return self._run(goal_handle, CleanTable.Result(), body)

    # -- one attempt ------------------------------------------------------------------------
    def _sequence(self, goal_handle, outcomes: list[PickOutcome]) -> PickSequence:
        """The pick sequence of one goal: it remembers the grasps that failed during the
        goal, and reports each stage as feedback."""
        clean = isinstance(goal_handle.request, CleanTable.Goal)

        def report(stage: Stage) -> None:
            if clean:
                picked = sum(o.success for o in outcomes)
                msg = CleanTable.Feedback(picked=picked, attempts=len(outcomes) + 1)
                if outcomes:
                    msg.last_outcome = outcomes[-1]
            else:
                msg = PickObject.Feedback(attempt=len(outcomes) + 1)
            msg.stage = PickStage(stage=int(stage))
            goal_handle.publish_feedback(msg)

        return PickSequence(
            self.backend, self.config.gripper.max_opening, report,
            self.p["holding_min_m"], self.p["max_candidates"], self.p["tight_fit_m"],
            self.p["release_shakes"],
        )  # fmt: skip

    def _attempt(self, sequence, label, place, outcomes, candidates=None) -> Attempt:
        """One pick; its outcome is appended to ``outcomes``. Candidates are detected for
        ``label`` unless given."""
        if candidates is None:
            sequence.report(Stage.DETECTING)
            candidates = self._detect(label)
        if candidates:
            attempt = sequence.pick(candidates, place)
        else:
            attempt = Attempt(False, f"no graspable {label or 'object'} found", Stage.DETECTING)
        outcomes.append(outcome(len(outcomes) + 1, attempt))
        return attempt

    def _detect(self, label: str) -> list[Candidate]:
        if not self.detect_client.wait_for_service(timeout_sec=self.p["detect_timeout_s"]):
            raise GoalError("/grasp/detect_grasps is not available: is grasp_transform up?")
        request = DetectGrasps.Request(
            target_label=label, max_count=0, min_quality=float(self.p["min_quality"])
        )
        future = self.detect_client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        timeout = 2 * self.p["detect_timeout_s"]
        while not done.wait(0.05):
            timeout -= 0.05
            if self._should_stop():
                raise Cancelled("cancelled while detecting")
            if timeout <= 0:
                raise GoalError("/grasp/detect_grasps did not answer")
        response = future.result()
        if response.status == DetectGrasps.Response.NO_GRASP_FOUND:
            return []
        if response.status != DetectGrasps.Response.OK:
            raise GoalError(f"grasp detection failed: {response.message}")
        return [candidate(g) for g in response.grasps.grasps]

    def _place(self, name: str, pose) -> np.ndarray:
        if not name and pose is not None and pose.header.frame_id:
            p = pose.pose.position
            return np.array([p.x, p.y, p.z])
        name = name or self.p["place_location"]
        if name not in self.config.places:
            raise GoalError(
                f"unknown place '{name}'; the arm config has {list(self.config.places)}"
            )
        return self.config.places[name]

    def end_callbacks(self) -> None:
        """The running goal sees it is no longer the active one, stops the arm and ends."""
        self._active = None

    def destroy_node(self) -> None:
        # The node goes only after the running goal has ended, so no goal outlives its
        # action server.
        self.end_callbacks()
        if self._goal_lock.acquire(timeout=10.0):
            self._goal_lock.release()
        super().destroy_node()


def main() -> None:
    run_node(ExecutorNode, lambda: queue_callbacks_once(MultiThreadedExecutor()))
