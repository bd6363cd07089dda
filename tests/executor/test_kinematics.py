"""The built-in kinematics on the UR5's URDF: forward / inverse agreement, unreachable
targets, straight Cartesian paths, workspace refusal and path timing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_executor.kinematics import (
    ArmKinematics,
    WorkspaceError,
    load_arm_config,
    time_path,
)

ARMS = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms"
# The grasp frame pointing straight down (approach -z of the base), closing along base -y.
DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


@pytest.fixture(scope="module")
def ur5() -> ArmKinematics:
    return ArmKinematics(load_arm_config(ARMS / "ur5.yaml"))


def _pose(position, rotation=DOWN) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, position
    return out


def _random_reachable(kin: ArmKinematics, rng: np.random.Generator) -> np.ndarray:
    """forward() of a random joint configuration whose grasp frame is in the workspace."""
    while True:
        q = kin.config.home + rng.uniform(-1.0, 1.0, kin.dof)
        pose = kin.forward(q)
        if kin.config.workspace.contains(pose[:3, 3]):
            return pose


def test_inverse_reaches_poses_of_forward(ur5: ArmKinematics) -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        target = _random_reachable(ur5, rng)
        q = ur5.inverse(target, ur5.config.home)
        assert q is not None
        assert ur5.within_limits(q)
        reached = ur5.forward(q)
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) < 1e-3
        angle = Rotation.from_matrix(reached[:3, :3].T @ target[:3, :3]).magnitude()
        assert angle < 0.01


def test_forward_puts_the_grasp_frame_tool_offset_past_the_flange(ur5: ArmKinematics) -> None:
    # At home the UR5's flange points down, so the grasp frame is tool_offset below it.
    config = ur5.config
    at_home = ur5.forward(config.home)
    without_tool = ArmKinematics(replace(config, tool_offset=np.eye(4))).forward(config.home)
    np.testing.assert_allclose(
        at_home[:3, 3], without_tool[:3, 3] + without_tool[:3, :3] @ config.tool_offset[:3, 3]
    )
    assert at_home[2, 3] < without_tool[2, 3] - 0.1


def test_inverse_returns_none_out_of_reach(ur5: ArmKinematics) -> None:
    # Inside the workspace box but pointing up from under the table: a UR5 wrist cannot
    # turn its approach axis to +z that close to the base plane at 0.85 m.
    up = np.diag([1.0, -1.0, -1.0]) @ DOWN
    assert ur5.inverse(_pose([0.85, 0.45, 0.01], up), ur5.config.home, restarts=3) is None


def test_workspace_refuses_poses_outside(ur5: ArmKinematics) -> None:
    outside = _pose([0.5, 0.0, -0.05])  # under the table top
    with pytest.raises(WorkspaceError, match="outside"):
        ur5.inverse(outside, ur5.config.home)
    with pytest.raises(WorkspaceError):
        ur5.cartesian_path(ur5.config.home, outside)
    ur5.check_workspace(_pose([0.5, 0.0, 0.1]))


def test_joint_path_refuses_to_leave_the_workspace(ur5: ArmKinematics) -> None:
    # Swinging the shoulder half a turn carries the grasp frame behind the base.
    goal = ur5.config.home + np.array([np.pi, 0, 0, 0, 0, 0])
    with pytest.raises(WorkspaceError):
        ur5.joint_path(ur5.config.home, goal)


def test_cartesian_path_stays_on_the_line(ur5: ArmKinematics) -> None:
    start = ur5.inverse(_pose([0.45, -0.1, 0.3]), ur5.config.home)
    end = np.array([0.6, 0.1, 0.05])
    path = ur5.cartesian_path(start, _pose(end), step_m=0.005)
    assert path is not None
    begin = ur5.forward(start)[:3, 3]
    direction = (end - begin) / np.linalg.norm(end - begin)
    points = np.array([ur5.forward(q)[:3, 3] for q in path])
    offsets = points - begin
    deviation = np.linalg.norm(offsets - np.outer(offsets @ direction, direction), axis=1)
    assert deviation.max() < 0.002
    np.testing.assert_allclose(points[-1], end, atol=1e-3)
    assert np.abs(np.diff(path, axis=0)).max() < 0.2


def test_time_path_runs_the_fastest_joint_at_the_speed_limit() -> None:
    path = np.array([[0.0, 0.0], [0.5, 0.1], [0.5, -0.9]])
    np.testing.assert_allclose(time_path(path, 0.5), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError):
        time_path(path, 0.0)


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    text = (ARMS / "ur5.yaml").read_text().replace("max_joint_speed:", "speed:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=r"bad.yaml.*max_joint_speed"):
        load_arm_config(bad)
