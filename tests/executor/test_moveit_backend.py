"""The MoveIt backend's own logic, with moveit_py replaced by a recorder (MoveIt cannot be
installed here): which goals it plans for each segment, the release fallbacks, and what a
failed plan does."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from grasp_core.arm import load_arm_config
from grasp_executor.controller import MotionError
from grasp_executor.planning import PickParams, place_pose, released_pose, twisted_pose

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


@pytest.fixture
def backend(monkeypatch):
    planning = types.ModuleType("moveit.planning")
    planning.MoveItPy = Recorder
    planning.PlanRequestParameters = lambda moveit, name: name
    monkeypatch.setitem(sys.modules, "moveit", types.ModuleType("moveit"))
    monkeypatch.setitem(sys.modules, "moveit.planning", planning)
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
    np.testing.assert_allclose(plan.poses["released"], released_pose(placed, 0.6))
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
