"""The executor's RosJointController on real topics, against an arm node that moves at its
own pace: an arm that stops short of its goal raises MotionError and is told to stay where it
is; an arm that runs late but keeps moving is followed to the end."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from grasp_executor.controller import MAX_SLOWDOWN, MotionError, RosJointController

JOINTS = ("shoulder", "elbow")
START = [0.3, -0.2]  # rad
GOAL = [1.0, 0.5]  # rad
STALL_S = 1.0  # generous: a loaded test machine can delay the arm node's timer
TRAJECTORY_S = 0.8  # START -> GOAL; MAX_SLOWDOWN * 0.8 + STALL_S = 5 s before a creeping arm fails


class PacedArm:
    """Moves each joint toward the last point of the latest trajectory at ``speed`` rad/s,
    never past ``reach`` (rad along the way, from START), and publishes /joint_states at
    50 Hz (falls_silent: none after the first trajectory); keeps every trajectory sent."""

    def __init__(self, node, speed: float, reach: float = np.inf, falls_silent=False) -> None:
        self.speed, self.reach, self.falls_silent = speed, reach, falls_silent
        self.silent = False  # no more /joint_states, as from a stalled driver
        self.position = np.array(START)
        self.goal = self.position.copy()
        self.commands: list[JointTrajectory] = []
        self.last_tick = time.monotonic()
        node.create_subscription(JointTrajectory, "/arm/joint_trajectory", self.on_command, 10)
        self.states = node.create_publisher(JointState, "/joint_states", 10)
        node.create_timer(0.02, self.tick)

    def on_command(self, msg: JointTrajectory) -> None:
        self.commands.append(msg)
        self.goal = np.array(msg.points[-1].positions)
        self.silent = self.falls_silent

    def tick(self) -> None:
        # Paced by the clock, not by the ticks, which a loaded machine delays.
        now = time.monotonic()
        most = self.speed * (now - self.last_tick)
        self.last_tick = now
        step = np.clip(self.goal - self.position, -most, most)
        travelled = np.abs(self.position + step - START).max()
        if travelled <= self.reach:
            self.position = self.position + step
        if self.silent:
            return
        self.states.publish(JointState(name=list(JOINTS), position=self.position.tolist()))


def follow(ros_graph, arm: PacedArm) -> None:
    """Send START -> GOAL as a TRAJECTORY_S trajectory and follow it."""
    controller = RosJointController(
        ros_graph.node("executor"), JOINTS, "/arm/joint_trajectory", "/gripper/command",
        "gripper_opening", cancelled=lambda: False, stall_s=STALL_S,
    )  # fmt: skip
    ros_graph.wait_for(lambda: controller_sees(controller), what="joint states")
    ros_graph.wait_for(
        lambda: ros_graph.nodes[0].count_publishers("/arm/joint_trajectory") > 0,
        what="the trajectory topic",
    )
    controller.follow(np.array([START, GOAL]), np.array([0.0, TRAJECTORY_S]))


def test_a_blocked_arm_raises_and_is_held_where_it_is(ros_graph) -> None:
    arm = PacedArm(ros_graph.node("arm"), speed=0.0)
    with pytest.raises(MotionError, match=r"stopped 0\.700 rad short of the end of a 0\.8 s") as e:
        follow(ros_graph, arm)
    assert last_joint_states_s(e.value) < STALL_S  # still publishing: blocked, not stalled
    ros_graph.wait_for(lambda: len(arm.commands) == 2, what="the hold")
    assert len(arm.commands[0].points) == 2
    hold = arm.commands[1].points
    assert len(hold) == 1 and list(hold[0].positions) == pytest.approx(START)
    assert (hold[0].time_from_start.sec, hold[0].time_from_start.nanosec) == (0, 0)


def test_a_late_arm_that_keeps_moving_is_followed_to_the_end(ros_graph) -> None:
    # 0.7 rad at 0.3 rad/s: 2.3 s, past the trajectory's end plus STALL_S (1.8 s) and well
    # within the 5 s a creeping arm gets, so that a stalled test process does not fail it.
    arm = PacedArm(ros_graph.node("arm"), speed=0.3)
    start = time.monotonic()
    follow(ros_graph, arm)
    assert time.monotonic() - start > TRAJECTORY_S + STALL_S
    assert np.abs(arm.position - GOAL).max() < 0.01
    assert len(arm.commands) == 1  # no hold


def test_an_arm_stopping_short_on_the_way_raises(ros_graph) -> None:
    arm = PacedArm(ros_graph.node("arm"), speed=0.7, reach=0.4)
    with pytest.raises(MotionError, match=r"stopped 0\.3\d\d rad short"):
        follow(ros_graph, arm)
    ros_graph.wait_for(lambda: len(arm.commands) == 2, what="the hold")


def test_an_arm_whose_joint_states_fall_silent_raises_saying_so(ros_graph) -> None:
    arm = PacedArm(ros_graph.node("arm"), speed=0.7, falls_silent=True)
    with pytest.raises(MotionError) as error:
        follow(ros_graph, arm)
    assert last_joint_states_s(error.value) >= STALL_S


def test_an_arm_creeping_far_behind_fails_after_max_slowdown(ros_graph) -> None:
    # 0.1 rad/s moves more than REACHED_RAD every 0.1 s, so it never stalls, but it needs
    # 7 s and fails after MAX_SLOWDOWN * TRAJECTORY_S + STALL_S = 5 s.
    arm = PacedArm(ros_graph.node("arm"), speed=0.1)
    start = time.monotonic()
    with pytest.raises(MotionError, match="short of the end"):
        follow(ros_graph, arm)
    assert time.monotonic() - start >= MAX_SLOWDOWN * TRAJECTORY_S + STALL_S
    assert np.abs(arm.position - GOAL).max() > 0.1  # 0.2 rad short when it fails
    ros_graph.wait_for(lambda: len(arm.commands) == 2, what="the hold")


def last_joint_states_s(error: MotionError) -> float:
    """How long before the failure /joint_states last arrived, as the message says, s."""
    found = re.search(r"last /joint_states (\d+\.\d) s ago", str(error))
    assert found, str(error)
    return float(found.group(1))


def controller_sees(controller: RosJointController) -> bool:
    try:
        controller.joints()
    except MotionError:
        return False
    return True
