"""The simulated arms: trajectory tracking, a hand-computed grasp that lifts a box through
the built-in kinematics (every configured arm), the gripper, the configured camera and the
ground truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grasp_core.arm import ArmConfig, load_arm_config
from grasp_executor.kinematics import ArmKinematics, time_path
from grasp_sim.objects import ObjectModel, Part
from grasp_sim.robot import SimRobot, trajectory_arrays

ARMS = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms"
ARM_NAMES = sorted(p.stem for p in ARMS.glob("*.yaml"))
# Grasp frame straight down (approach -z of the base), closing along the base's -y.
DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
BOX_HALF = (0.02, 0.02, 0.025)  # m: 4 cm across the closing axis, 5 cm tall
BOX = ObjectModel("test_box", "box", (Part("box", BOX_HALF),))


@pytest.fixture(scope="module")
def config() -> ArmConfig:
    return load_arm_config(ARMS / "ur5.yaml")


@pytest.fixture
def robot(config: ArmConfig) -> Iterator[SimRobot]:
    robot = SimRobot(config, objects=[BOX], seed=0)
    yield robot
    robot.close()


def _pose(position: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = DOWN, position
    return out


def _run(robot: SimRobot, path: np.ndarray, speed: float) -> None:
    robot.follow(time_path(path, speed), path)


def test_follows_a_joint_trajectory(robot: SimRobot, config: ArmConfig) -> None:
    goal = config.home + np.array([0.4, 0.3, -0.3, 0.2, 0.3, 0.6])
    times = np.array([0.0, 0.8, 1.6])
    positions = np.array([config.home, (config.home + goal) / 2, goal])
    robot.command(times, positions)
    robot.step(0.8)
    # Mid-way the servos lag the moving target by little.
    assert np.abs(robot.joint_positions() - positions[1]).max() < 0.02
    robot.step(0.8 + 0.3)
    assert np.abs(robot.joint_positions() - goal).max() < 2e-3
    assert np.abs(robot.joint_velocities()).max() < 0.01


def test_a_new_trajectory_replaces_the_running_one(robot: SimRobot, config: ArmConfig) -> None:
    far = config.home + np.array([1.0, 0, 0, 0, 0, 0])
    back = config.home + np.array([-0.2, 0, 0, 0, 0, 0])
    robot.command(np.array([0.0, 2.0]), np.array([config.home, far]))
    robot.step(0.5)
    robot.follow(np.array([0.5]), back[None])
    assert np.abs(robot.joint_positions() - back).max() < 2e-3


def test_malformed_commands_are_refused(robot: SimRobot, config: ArmConfig) -> None:
    with pytest.raises(ValueError, match="positions"):
        robot.command(np.array([0.0, 1.0]), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="non-decreasing"):
        robot.command(np.array([1.0, 0.5]), np.array([config.home, config.home]))
    with pytest.raises(ValueError, match="finite"):
        robot.command(np.array([1.0]), np.full((1, len(config.home)), np.nan))
    with pytest.raises(ValueError, match="finite"):
        robot.set_gripper(float("nan"))


def test_gripper_opening_is_reported(robot: SimRobot, config: ArmConfig) -> None:
    assert robot.gripper_opening() == pytest.approx(config.gripper.max_opening, abs=1e-4)
    robot.set_gripper(0.05)
    robot.step(0.5)
    assert robot.gripper_opening() == pytest.approx(0.05, abs=1e-3)
    robot.set_gripper(1.0)  # clipped to the gripper's widest
    robot.step(0.5)
    assert robot.gripper_opening() == pytest.approx(config.gripper.max_opening, abs=1e-3)


def test_fingers_cannot_be_forced_past_fully_open(robot: SimRobot, config: ArmConfig) -> None:
    # An object wedged between the fingers pushes them outward; soft travel limits let it
    # spread them centimetres wide and stay clamped there after the gripper opened.
    import mujoco

    from grasp_sim.robot import HAND_PREFIX

    model, data = robot.scene.model, robot.scene.data
    for name, outward in (("finger_pos", 1.0), ("finger_neg", -1.0)):
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, HAND_PREFIX + name)
        closing_axis = data.xmat[body].reshape(3, 3)[:, 0]
        data.xfrc_applied[body, :3] = outward * 40.0 * closing_axis  # N, world frame
    robot.step(0.5)
    assert robot.gripper_opening() < config.gripper.max_opening + 0.003


@pytest.mark.parametrize("arm", ARM_NAMES)
def test_grasp_at_a_known_box_lifts_it(arm: str) -> None:
    config = load_arm_config(ARMS / f"{arm}.yaml")
    kinematics = ArmKinematics(config)
    robot = SimRobot(config, objects=[BOX], seed=0)
    box = config.table_center + np.array([0.0, 0.05, BOX_HALF[2]])
    robot.place_object(0, box, np.array([1.0, 0, 0, 0]))
    robot.step(0.3)
    box = robot.object_positions()[0]
    # Fingertips 2.5 cm below the box top, closing across its 4 cm side.
    grasp = _pose(box)
    above = _pose(box + np.array([0.0, 0.0, 0.12]))
    q_above = kinematics.inverse(above, robot.joint_positions())
    assert q_above is not None
    _run(robot, kinematics.joint_path(robot.joint_positions(), q_above), config.max_joint_speed)
    _run(robot, kinematics.cartesian_path(robot.joint_positions(), grasp), 0.5)
    reached = kinematics.forward(robot.joint_positions())[:3, 3]
    np.testing.assert_allclose(reached, grasp[:3, 3], atol=2e-3)
    assert not robot.on_robot()[0]  # open fingers either side, not touching it yet
    robot.set_gripper(0.0)
    robot.step(0.8)
    assert 0.02 < robot.gripper_opening() < 2 * BOX_HALF[1]
    _run(robot, kinematics.cartesian_path(robot.joint_positions(), above), 0.5)
    assert robot.object_positions()[0, 2] > box[2] + 0.1
    truth, on_robot = robot.ground_truth(), robot.on_robot()
    robot.close()
    assert truth["objects"][0]["held"] and not truth["objects"][0]["on_table"]
    assert on_robot[0]


@pytest.mark.parametrize("arm", ARM_NAMES)
def test_camera_sees_the_table_from_the_configured_pose(arm: str) -> None:
    config = load_arm_config(ARMS / f"{arm}.yaml")
    robot = SimRobot(config, objects=0, seed=0)
    try:
        frame = robot.render()
    finally:
        robot.close()
    assert frame.rgb.shape == (480, 640, 3) and frame.depth.shape == (480, 640)
    depth = frame.depth
    valid = (depth > 0.1) & (depth < 2.0)
    assert valid.mean() > 0.95
    # The arm at home stays out of view: nothing rises above the table top.
    assert depth[valid].min() > 0.6
    # Centre pixel: the optical axis from the YAML pose meets the table-top plane.
    position, axis = config.camera[:3, 3], config.camera[:3, 2]
    expected = (config.table_center[2] - position[2]) / axis[2]
    assert depth[240, 320] == pytest.approx(expected, abs=0.01)


def test_ground_truth_lists_objects_on_the_table(config: ArmConfig) -> None:
    robot = SimRobot(config, objects=3, seed=5)
    try:
        truth = json.loads(json.dumps(robot.ground_truth()))
    finally:
        robot.close()
    assert len(truth["objects"]) == 3
    for item in truth["objects"]:
        assert item["on_table"] and not item["held"]
        # On the table top around its centre (base frame; round objects roll a little).
        assert np.abs(np.subtract(item["position"][:2], config.table_center[:2])).max() < 0.4
        assert 0.0 < item["position"][2] - config.table_center[2] < 0.15


def test_trajectory_arrays_reorder_joints_and_refuse_others() -> None:
    times, positions = trajectory_arrays(["b", "a"], [0.5, 1.0], [[2, 1], [4, 3]], ["a", "b"])
    np.testing.assert_array_equal(times, [0.5, 1.0])
    np.testing.assert_array_equal(positions, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="not the arm's joints"):
        trajectory_arrays(["a", "c"], [1.0], [[0, 0]], ["a", "b"])
    with pytest.raises(ValueError, match="not the arm's joints"):
        trajectory_arrays(["a", "a"], [1.0], [[0, 0]], ["a", "b"])
    with pytest.raises(ValueError, match="2 positions"):
        trajectory_arrays(["a", "b"], [1.0], [[0]], ["a", "b"])


@pytest.mark.parametrize("arm", ARM_NAMES)
def test_each_arm_reaches_a_place_beyond_the_table_edge(arm: str) -> None:
    # An object let go above the table's edge can land back on the table: the WidowX's
    # place 1 cm past the edge left a third of its picks there.
    from grasp_executor.planning import place_pose

    config = load_arm_config(ARMS / f"{arm}.yaml")
    kinematics = ArmKinematics(config)
    for place in config.places.values():
        beyond = np.abs(place[:2] - config.table_center[:2]) - np.asarray(config.table_size) / 2
        assert beyond.max() >= 0.05, f"{arm}: place {place.tolist()} is over the table"
        for yaw in np.linspace(0.0, np.pi, 7):
            grasp = np.eye(4)
            grasp[:3, 0] = [np.cos(yaw), np.sin(yaw), 0.0]
            assert kinematics.inverse(place_pose(place, grasp), config.home) is not None
