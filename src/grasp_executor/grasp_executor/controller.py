"""The arm and gripper over ROS topics: a JointController (grasp_executor.planning) that
sends trajectory_msgs/JointTrajectory to the arm's controller and the gripper opening
(std_msgs/Float64, m) to the gripper, and watches /joint_states until each motion ends.

Works with a ros2_control joint_trajectory_controller's topic interface on a real arm and
with the simulated robot (grasp_sim). A cancel stops the arm where it is: a one-point
trajectory holding the current positions replaces the running one.

A motion fails when the arm stops moving short of its goal, not after a fixed time: an arm
that runs late (a simulator falling behind real time on a loaded machine, a controller
scaling its speed down) is still followed to its end, up to MAX_SLOWDOWN times its length.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from grasp_executor.sequence import Cancelled

POLL_S = 0.01
REACHED_RAD = 0.01  # a motion has ended when every joint is this close to its goal
GRIPPER_SETTLED_M = 0.0005  # ... and the gripper when it moves less than this per 0.1 s
MAX_SLOWDOWN = 5.0  # an arm still creeping after this many times a trajectory's length fails


class MotionError(RuntimeError):
    """The arm or gripper did not do what was commanded (no joint states, or an arm that
    stopped short of a trajectory's end, after which it is held where it is)."""


def duration(seconds: float) -> Duration:
    whole = int(seconds)
    return Duration(sec=whole, nanosec=int((seconds - whole) * 1e9))


class RosJointController:
    """joints / follow / grip over topics; ``cancelled`` is polled while waiting.

    stall_s: how long past a trajectory's end the arm may stand still short of its goal
    before the motion fails, s."""

    def __init__(
        self,
        node: Node,
        joint_names: tuple[str, ...],
        trajectory_topic: str,
        gripper_topic: str,
        gripper_joint: str,
        cancelled: Callable[[], bool],
        stall_s: float = 5.0,
    ) -> None:
        self.joint_names, self.gripper_joint = joint_names, gripper_joint
        self.cancelled, self.stall_s = cancelled, stall_s
        self._positions: dict[str, float] = {}
        self._heard = time.monotonic()  # when /joint_states last arrived
        self._lock = threading.Lock()
        self._trajectory = node.create_publisher(JointTrajectory, trajectory_topic, 10)
        self._gripper = node.create_publisher(Float64, gripper_topic, 10)
        node.create_subscription(JointState, "/joint_states", self._on_joint_states, 10)

    def _on_joint_states(self, msg: JointState) -> None:
        with self._lock:
            self._positions.update(zip(msg.name, msg.position, strict=False))
            self._heard = time.monotonic()

    def _state(self, names: tuple[str, ...]) -> np.ndarray:
        with self._lock:
            missing = [n for n in names if n not in self._positions]
            if missing:
                raise MotionError(f"/joint_states has not reported {missing} yet")
            return np.array([self._positions[n] for n in names])

    def joints(self) -> np.ndarray:
        return self._state(self.joint_names)

    def opening(self) -> float:
        return float(self._state((self.gripper_joint,))[0])

    def follow(self, path: np.ndarray, times: np.ndarray) -> None:
        msg = JointTrajectory(joint_names=list(self.joint_names))
        msg.points = [
            JointTrajectoryPoint(positions=q.tolist(), time_from_start=duration(t))
            for q, t in zip(path, times, strict=True)
        ]
        self._trajectory.publish(msg)
        end = time.monotonic() + times[-1]
        deadline = time.monotonic() + MAX_SLOWDOWN * times[-1] + self.stall_s
        moved_at, last_moved = time.monotonic(), self.joints()
        while True:
            self._wait(POLL_S)
            now, joints = time.monotonic(), self.joints()
            off = np.abs(joints - path[-1]).max()
            if now >= end and off < REACHED_RAD:
                return
            if np.abs(joints - last_moved).max() >= REACHED_RAD:
                moved_at, last_moved = now, joints
            if now > max(end, moved_at) + self.stall_s or now > deadline:
                # Blocked or faulted: stop pushing toward a goal it cannot reach.
                self.hold()
                raise MotionError(
                    f"the arm stopped {off:.3f} rad short of the end of a {times[-1]:.1f} s "
                    f"trajectory (last moved {now - moved_at:.1f} s ago, last /joint_states "
                    f"{now - self._heard:.1f} s ago)"
                )

    def grip(self, opening: float) -> float:
        self._gripper.publish(Float64(data=float(opening)))
        self._wait(0.3)
        deadline = time.monotonic() + 3.0
        last = self.opening()
        while time.monotonic() < deadline:
            self._wait(0.1)
            now = self.opening()
            if abs(now - last) < GRIPPER_SETTLED_M:
                return now
            last = now
        return last

    def hold(self) -> None:
        """Stop the arm where it is."""
        point = JointTrajectoryPoint(positions=self.joints().tolist(), time_from_start=duration(0))
        self._trajectory.publish(
            JointTrajectory(joint_names=list(self.joint_names), points=[point])
        )

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.cancelled():
                self.hold()
                raise Cancelled("the goal was cancelled")
            time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))
