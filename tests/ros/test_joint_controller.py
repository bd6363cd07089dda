"""The executor's RosJointController on real topics: an arm that does not follow its
trajectory raises MotionError and is told to stay where it is."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from grasp_executor.controller import MotionError, RosJointController

JOINTS = ("shoulder", "elbow")
STUCK_AT = [0.3, -0.2]  # rad: where the blocked arm stays


def test_a_blocked_arm_raises_and_is_held_where_it_is(ros_graph) -> None:
    arm = ros_graph.node("arm")
    commands: list[JointTrajectory] = []
    arm.create_subscription(JointTrajectory, "/arm/joint_trajectory", commands.append, 10)
    states = arm.create_publisher(JointState, "/joint_states", 10)
    arm.create_timer(0.02, lambda: states.publish(JointState(name=list(JOINTS), position=STUCK_AT)))
    controller = RosJointController(
        ros_graph.node("executor"), JOINTS, "/arm/joint_trajectory", "/gripper/command",
        "gripper_opening", cancelled=lambda: False, timeout_margin_s=0.3,
    )  # fmt: skip
    ros_graph.wait_for(lambda: controller_sees(controller), what="joint states")
    ros_graph.wait_for(
        lambda: arm.count_publishers("/arm/joint_trajectory") > 0, what="the trajectory topic"
    )
    path = np.array([STUCK_AT, [1.0, 0.5]])
    with pytest.raises(MotionError, match=r"did not reach the end of a 0\.2 s trajectory"):
        controller.follow(path, np.array([0.0, 0.2]))
    ros_graph.wait_for(lambda: len(commands) == 2, what="the hold")
    assert len(commands[0].points) == 2
    hold = commands[1].points
    assert len(hold) == 1 and list(hold[0].positions) == pytest.approx(STUCK_AT)
    assert (hold[0].time_from_start.sec, hold[0].time_from_start.nanosec) == (0, 0)


def controller_sees(controller: RosJointController) -> bool:
    try:
        controller.joints()
    except MotionError:
        return False
    return True
