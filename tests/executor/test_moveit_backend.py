"""The MoveIt backend's own logic, with moveit_py replaced by a recorder (MoveIt cannot be
installed here): which goals it plans for each segment, the release fallbacks, what a
failed plan does, and which version of a grasp it keeps when inverse kinematics fails."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from grasp_core.arm import load_arm_config
from grasp_core.frames import invert, transform_from_xyz_quat, xyz_quat
from grasp_executor.controller import MotionError
from grasp_executor.planning import (
    LEAN_STEP_RAD,
    PickParams,
    PlanningError,
    place_pose,
    release_turns,
    released_pose,
    twisted_pose,
)

ARMS = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms"
DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


class Recorder:
    """moveit_py's MoveItPy and planning component: records goals; ``fail`` holds the
    number of the plan calls (from 0) that find no motion."""

    def __init__(self, node_name: str) -> None:
        self.goals: list = []
        self.executed: list = []
        self.fail: set[int] = set()

    def get_planning_component(self, group: str) -> Recorder:
        return self

    def set_start_state_to_current_state(self) -> None:
        pass

    def set_goal_state(self, **goal) -> None:
        self.goals.append(goal)

    def plan(self, single_plan_parameters) -> object:
        number = len(self.goals) - 1
        return None if number in self.fail else types.SimpleNamespace(trajectory=number)

    def execute(self, trajectory, controllers) -> None:
        self.executed.append(trajectory)

    def get_robot_model(self) -> str:
        return "model"


class IKState:
    """moveit_py's RobotState: set_from_ik answers ``reachable(flange 4x4)`` and records
    the flange poses it was asked for."""

    def __init__(self, model: str) -> None:
        self.asked: list[np.ndarray] = []
        self.reachable = lambda flange: True

    def set_from_ik(self, group: str, geometry_pose, tip_name: str, timeout: float) -> bool:
        p, q = geometry_pose.position, geometry_pose.orientation
        flange = transform_from_xyz_quat([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])
        self.asked.append(flange)
        return self.reachable(flange)


@pytest.fixture
def backend(monkeypatch):
    planning = types.ModuleType("moveit.planning")
    planning.MoveItPy = Recorder
    planning.PlanRequestParameters = lambda moveit, name: name
    robot_state = types.ModuleType("moveit.core.robot_state")
    robot_state.RobotState = IKState
    for name in ("moveit", "moveit.core"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "moveit.planning", planning)
    monkeypatch.setitem(sys.modules, "moveit.core.robot_state", robot_state)
    from grasp_executor.moveit_backend import MoveItBackend

    config = load_arm_config(ARMS / "ur5.yaml")
    return MoveItBackend(config, controller=None, params=PickParams())


def _goal_pose(goal) -> np.ndarray:
    p, q = goal["pose_stamped_msg"].pose.position, goal["pose_stamped_msg"].pose.orientation
    return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])


def _plan(backend):
    grasp = np.eye(4)
    grasp[:3, :3], grasp[:3, 3] = DOWN, [0.5, 0.0, 0.03]
    return backend.plan(grasp, 0.04, np.array([0.3, 0.4, 0.2])), grasp


def test_the_release_tilts_else_twists_else_stays(backend) -> None:
    plan, grasp = _plan(backend)
    placed = place_pose(np.array([0.3, 0.4, 0.2]), grasp)
    np.testing.assert_allclose(plan.poses["tilted"], released_pose(placed, 0.6))
    np.testing.assert_allclose(plan.poses["twisted"], twisted_pose(placed))
    recorder = backend.moveit
    backend.move(plan, "release")  # the tilt plans
    assert recorder.executed == [0] and len(recorder.goals) == 1
    recorder.fail = {1}  # the tilt does not plan: the twist is tried and run
    backend.move(plan, "release")
    assert recorder.executed == [0, 2]
    assert not np.allclose(_goal_pose(recorder.goals[1]), _goal_pose(recorder.goals[2]))
    recorder.fail = {3, 4}  # neither plans: the arm stays, the pick goes on
    backend.move(plan, "release")
    assert recorder.executed == [0, 2] and len(recorder.goals) == 5


def test_a_shake_out_turns_through_what_plans_and_needs_its_free_motions(backend) -> None:
    place = np.array([0.3, 0.4, 0.2])
    placed = place_pose(place, np.eye(4))
    recorder = backend.moveit
    recorder.fail = {2}  # the twist does not plan: the other turns still run
    backend.shake_out(place)
    assert recorder.executed == [0, 1, 3, 4, 5, 6]
    expected = [placed, *release_turns(placed, 0.6).values(), placed]
    for goal, pose in zip(recorder.goals, expected, strict=False):
        flange = pose @ invert(backend.config.tool_offset)
        np.testing.assert_allclose(_goal_pose(goal), np.concatenate(xyz_quat(flange)), atol=1e-9)
    assert recorder.goals[-1] == {"configuration_name": "home"}
    recorder.fail = {7}  # no free motion to the place: nothing runs
    with pytest.raises(PlanningError, match="no free motion to shake"):
        backend.shake_out(place)
    assert len(recorder.executed) == 6


def test_a_segment_that_does_not_plan_raises_and_home_is_the_named_state(backend) -> None:
    plan, _ = _plan(backend)
    recorder = backend.moveit
    recorder.fail = {0}
    with pytest.raises(MotionError, match="no free motion for to_pregrasp"):
        backend.move(plan, "to_pregrasp")
    backend.move(plan, "to_home")
    assert recorder.goals[1] == {"configuration_name": "home"}
    assert recorder.executed == [1]
    assert plan.opening == pytest.approx(0.04 + backend.config.gripper.opening_margin)


def _tilt(grasp: np.ndarray) -> float:
    """The angle (rad) between a grasp frame's approach and straight down."""
    return float(np.arccos(np.clip(-grasp[2, 2], -1.0, 1.0)))


def test_a_reachable_grasp_is_planned_as_given_after_checking_pregrasp_and_grasp(backend):
    plan, grasp = _plan(backend)
    np.testing.assert_allclose(plan.poses["grasp"], grasp)
    flange = backend.config.tool_offset
    asked = [pose @ flange for pose in backend.ik_state.asked]
    np.testing.assert_allclose(asked[0], plan.poses["pregrasp"], atol=1e-9)
    np.testing.assert_allclose(asked[1], grasp, atol=1e-9)


def test_a_grasp_without_joint_solution_straight_down_is_planned_leaning(backend) -> None:
    tool = backend.config.tool_offset
    # An arm that reaches this grasp only with its approach tilted 10 degrees or more.
    backend.ik_state.reachable = lambda flange: _tilt(flange @ tool) > np.radians(10)
    plan, grasp = _plan(backend)
    assert _tilt(plan.poses["grasp"]) == pytest.approx(LEAN_STEP_RAD)  # the least lean
    np.testing.assert_allclose(plan.poses["grasp"][:2, 3], grasp[:2, 3], atol=1e-9)
    # Neither the grasp as given nor its half turn was planned before the lean.
    assert _tilt(backend.ik_state.asked[0] @ tool) == pytest.approx(0.0, abs=1e-9)
    assert len(backend.ik_state.asked) == 4  # 2 versions refused, then pre-grasp and grasp


def test_an_unreachable_grasp_is_a_planning_error_naming_the_pose(backend) -> None:
    backend.ik_state.reachable = lambda flange: False
    with pytest.raises(PlanningError, match="no joint solution for the pregrasp pose"):
        _plan(backend)
    assert len(backend.ik_state.asked) == 2 * (int(0.52 / LEAN_STEP_RAD) + 1)


def test_a_grasp_outside_the_workspace_is_a_planning_error_not_a_crash(backend) -> None:
    # The pick sequence catches PlanningError and tries its next candidate.
    grasp = np.eye(4)
    grasp[:3, :3], grasp[:3, 3] = DOWN, [3.0, 0.0, 0.03]
    with pytest.raises(PlanningError, match=r"grasp pose .* is outside the workspace"):
        backend.plan(grasp, 0.04, np.array([0.3, 0.4, 0.2]))
    assert not backend.ik_state.asked  # nothing outside is sent to MoveIt
