"""The simulator node on real DDS: joint states and camera topics out, trajectories and
gripper commands in, ground truth and reset services."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from grasp_camera.messages import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_ENCODING,
    DEPTH_TOPIC,
    OPTICAL_FRAME,
    image_array,
)  # fmt: skip
from grasp_core.arm import load_arm_config
from grasp_sim.node import SimNode
from grasp_sim.robot import GRIPPER_JOINT
from harness import TestGraph

pytestmark = pytest.mark.ros

UR5 = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms/ur5.yaml"
CONFIG = load_arm_config(UR5)


class Probe:
    """A node that keeps the last message of the simulator's outputs and talks to it."""

    def __init__(self, graph: TestGraph) -> None:
        graph.add(
            SimNode(
                context=graph.context,
                parameter_overrides=[
                    Parameter("arm_config", value=str(UR5)),
                    Parameter("objects", value=2),
                    Parameter("camera_rate_hz", value=2.0),
                ],
            )
        )
        self.node = graph.node("probe")
        self.last: dict[str, object] = {}
        self.logs: list[str] = []
        for topic, kind, qos in (
            ("/joint_states", JointState, 10),
            (COLOR_TOPIC, Image, qos_profile_sensor_data),
            (DEPTH_TOPIC, Image, qos_profile_sensor_data),
            (CAMERA_INFO_TOPIC, CameraInfo, qos_profile_sensor_data),
        ):
            self.node.create_subscription(kind, topic, self._keeper(topic), qos)
        self.node.create_subscription(Log, "/rosout", lambda m: self.logs.append(m.msg), 100)
        self.trajectory = self.node.create_publisher(
            JointTrajectory, "/arm_controller/joint_trajectory", 10
        )
        self.gripper = self.node.create_publisher(Float64, "/gripper/command", 10)

    def _keeper(self, topic: str):
        return lambda msg: self.last.__setitem__(topic, msg)

    def joints(self) -> dict[str, float]:
        msg = self.last.get("/joint_states")
        return dict(zip(msg.name, msg.position, strict=True)) if msg else {}

    def send(self, names: list[str], goal: np.ndarray, seconds: int = 1) -> None:
        point = JointTrajectoryPoint(positions=list(goal), time_from_start=Duration(sec=seconds))
        self.trajectory.publish(JointTrajectory(joint_names=names, points=[point]))

    def at(self, goal: np.ndarray) -> bool:
        joints = self.joints()
        return bool(joints) and all(
            abs(joints[n] - g) < 0.01 for n, g in zip(CONFIG.joint_names, goal, strict=True)
        )


def test_publishes_joint_states_and_camera_topics(ros_graph: TestGraph) -> None:
    probe = Probe(ros_graph)
    topics = ("/joint_states", COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC)
    ros_graph.wait_for(lambda: all(t in probe.last for t in topics), 20, "every topic")
    assert list(probe.last["/joint_states"].name) == [*CONFIG.joint_names, GRIPPER_JOINT]
    assert probe.at(CONFIG.home)
    assert probe.joints()[GRIPPER_JOINT] == pytest.approx(CONFIG.gripper.max_opening, abs=1e-3)
    color, depth = probe.last[COLOR_TOPIC], probe.last[DEPTH_TOPIC]
    info = probe.last[CAMERA_INFO_TOPIC]
    assert (color.encoding, depth.encoding) == ("rgb8", DEPTH_ENCODING)
    for msg in (color, depth, info):
        assert msg.header.frame_id == OPTICAL_FRAME
        assert msg.header.stamp.sec > 1_600_000_000  # wall-clock stamps
    assert image_array(color).shape == (480, 640, 3)
    mm = image_array(depth)
    # The table 0.7-0.8 m in front of the configured camera fills the view.
    assert (mm > 0).mean() > 0.95
    assert 650 < np.median(mm) < 850
    assert (info.width, info.height) == (640, 480)


def test_commands_move_the_arm_and_bad_ones_are_refused(ros_graph: TestGraph) -> None:
    probe = Probe(ros_graph)
    ros_graph.wait_for(lambda: probe.at(CONFIG.home), 20, "joint states at home")
    names = list(CONFIG.joint_names)
    probe.send([*names[:-1], "not_a_joint"], CONFIG.home + 0.3)
    ros_graph.wait_for(
        lambda: any("not_a_joint" in m for m in probe.logs), 10, "the refusal in the log"
    )
    probe.gripper.publish(Float64(data=float("nan")))
    ros_graph.wait_for(
        lambda: any("gripper opening" in m for m in probe.logs), 10, "the gripper refusal"
    )
    # Given in another joint order, the goal still reaches the right joints.
    goal = CONFIG.home + np.array([0.3, -0.2, 0.2, 0.1, 0.2, 0.4])
    probe.send(names[::-1], goal[::-1])
    probe.gripper.publish(Float64(data=0.04))
    ros_graph.wait_for(lambda: probe.at(goal), 15, "joint states at the goal")
    ros_graph.wait_for(
        lambda: abs(probe.joints()[GRIPPER_JOINT] - 0.04) < 2e-3, 5, "the gripper at 4 cm"
    )


def test_ground_truth_and_reset_services(ros_graph: TestGraph) -> None:
    Probe(ros_graph)
    client = ros_graph.node("scorer")
    for name in ("/sim/ground_truth", "/sim/reset"):
        service = client.create_client(Trigger, name)
        assert service.wait_for_service(timeout_sec=10)
        response = ros_graph.result(service.call_async(Trigger.Request()), 20, name)
        assert response.success, response.message
        truth = json.loads(response.message)
        assert len(truth["objects"]) == 2
        assert all(item["on_table"] for item in truth["objects"])
