"""The pick sequence on the simulated UR5 through the built-in backend (no ROS): a reachable
box is picked and placed, a grasp on empty table backs out and the next candidate is tried,
an unreachable grasp is skipped with its reason, and clean_table's stopping rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grasp_core.arm import load_arm_config
from grasp_executor.kinematics import ArmKinematics
from grasp_executor.planning import BuiltinBackend, PickParams, PlanningError
from grasp_executor.sequence import Attempt, Candidate, PickSequence, Stage, clean_table
from grasp_sim.objects import ObjectModel, Part
from grasp_sim.robot import SimController, SimRobot

ARMS = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms"
DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # approach -z, close -y
BOX = ObjectModel("test_box", "box", (Part("box", (0.02, 0.02, 0.025)),))
BOX_AT = np.array([0.5, 0.05, 0.025])  # box centre on the table, m, base frame
BOX_GRASP = BOX_AT + np.array([0.0, 0.0, 0.01])  # fingertips 1.5 cm below the box top
PLACE = np.array([0.35, 0.35, 0.2])


def grasp_at(position: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = DOWN, position
    return pose


@pytest.fixture(scope="module")
def kinematics() -> ArmKinematics:
    return ArmKinematics(load_arm_config(ARMS / "ur5.yaml"))


@pytest.fixture
def robot(kinematics: ArmKinematics) -> Iterator[SimRobot]:
    robot = SimRobot(kinematics.config, objects=[BOX], seed=0)
    robot.place_object(0, BOX_AT, np.array([1.0, 0.0, 0.0, 0.0]))
    robot.step(0.3)
    yield robot
    robot.close()


def sequence(kinematics: ArmKinematics, robot: SimRobot, stages: list) -> PickSequence:
    backend = BuiltinBackend(kinematics, SimController(robot), PickParams())
    return PickSequence(backend, kinematics.config.gripper.max_opening, report=stages.append)


def test_a_reachable_box_is_picked_and_placed(kinematics, robot) -> None:
    stages: list[Stage] = []
    grasp = Candidate(grasp_at(BOX_GRASP), width=0.04, quality=0.9, label="box")
    attempt = sequence(kinematics, robot, stages).pick([grasp], PLACE)
    assert attempt.success, attempt.message
    assert attempt.stage == Stage.DONE and attempt.candidate is grasp
    assert stages == [
        Stage.PLANNING, Stage.APPROACHING, Stage.GRASPING, Stage.LIFTING, Stage.PLACING,
        Stage.RETREATING, Stage.DONE,
    ]  # fmt: skip
    robot.step(1.0)
    moved = robot.object_positions()[0]
    assert np.linalg.norm(moved[:2] - PLACE[:2]) < 0.08, f"box ended at {moved}, not the place"
    assert np.allclose(robot.joint_positions(), kinematics.config.home, atol=0.02)


def test_a_grasp_on_nothing_backs_out_and_the_next_candidate_is_tried(kinematics, robot) -> None:
    empty = Candidate(grasp_at(np.array([0.5, -0.2, 0.01])), width=0.04, quality=0.95)
    box = Candidate(grasp_at(BOX_GRASP), width=0.04, quality=0.5)
    stages: list[Stage] = []
    attempt = sequence(kinematics, robot, stages).pick([empty, box], PLACE)
    assert attempt.success and attempt.candidate is box and attempt.moved
    assert stages.count(Stage.GRASPING) == 2


def test_an_unreachable_grasp_is_skipped_with_its_reason(kinematics, robot) -> None:
    outside = Candidate(grasp_at(np.array([1.5, 0.0, 0.02])), width=0.04, quality=0.99)
    too_wide = Candidate(grasp_at(BOX_AT), width=0.2, quality=0.9)
    attempt = sequence(kinematics, robot, []).pick([outside, too_wide], PLACE)
    assert not attempt.success and attempt.stage == Stage.PLANNING
    assert "outside" in attempt.message and "exceeds the gripper" in attempt.message
    assert not attempt.moved
    assert np.allclose(robot.joint_positions(), kinematics.config.home, atol=1e-3)


def test_clean_table_stops_when_nothing_remains_or_failures_pile_up() -> None:
    candidates = [[1], [1], [1], []]
    outcomes = iter([True, False, True])
    result = clean_table(
        detect=lambda: candidates.pop(0),
        pick=lambda c: Attempt(next(outcomes), "", Stage.DONE, moved=True),
    )
    assert result.picked == 2 and len(result.attempts) == 3
    assert "nothing graspable" in result.message
    failing = clean_table(
        detect=lambda: [1], pick=lambda c: Attempt(False, "", Stage.LIFTING, moved=True),
        max_consecutive_failures=3,
    )  # fmt: skip
    assert len(failing.attempts) == 3 and "3 failed attempts" in failing.message
    limited = clean_table(
        detect=lambda: [1], pick=lambda c: Attempt(True, "", Stage.DONE, moved=True),
        max_objects=2,
    )  # fmt: skip
    assert limited.picked == 2 and "requested 2" in limited.message


def test_clean_table_stops_when_a_pick_finds_nothing_to_try() -> None:
    outcomes = iter([
        Attempt(False, "the object slipped out while lifting", Stage.LIFTING, moved=True),
        Attempt(False, "every detected grasp already failed once", Stage.PLANNING),
    ])  # fmt: skip
    seen: list[Attempt] = []
    result = clean_table(lambda: [1], lambda c: next(outcomes), on_attempt=seen.append)
    # The arm did not move for the second pick: the table is as it was, so it is not an
    # attempt, and detecting again would only find the same grasps.
    assert len(result.attempts) == len(seen) == 1
    assert (
        result.message == "stopped, nothing left to try: every detected grasp already failed once"
    )


def test_stage_values_are_the_messages() -> None:
    from grasp_interfaces.msg import PickStage

    assert {s.name: s.value for s in Stage} == {
        name: getattr(PickStage, name) for name in Stage.__members__
    }


def test_a_grasp_that_failed_is_not_tried_again(kinematics, robot) -> None:
    empty = Candidate(grasp_at(np.array([0.5, -0.2, 0.01])), width=0.04, quality=0.95)
    sequence_ = sequence(kinematics, robot, [])
    first = sequence_.pick([empty], PLACE)
    assert not first.success
    # The detector proposes the same grasp, nudged by 1 cm and turned half a jaw-turn.
    again = grasp_at(np.array([0.51, -0.2, 0.01])) @ np.diag([-1.0, -1.0, 1.0, 1.0])
    retry = sequence_.pick([Candidate(again, width=0.04, quality=0.95)], PLACE)
    assert not retry.success and "already failed" in retry.message
    assert first.moved and not retry.moved
    box = Candidate(grasp_at(BOX_GRASP), width=0.04, quality=0.5)
    assert sequence_.pick([Candidate(again, 0.04, 0.95), box], PLACE).success


def test_same_grasp_ignores_the_jaws_symmetry_but_not_position_or_approach() -> None:
    from grasp_executor.sequence import same_grasp

    a = grasp_at(np.array([0.5, 0.0, 0.02]))
    assert same_grasp(a, a @ np.diag([-1.0, -1.0, 1.0, 1.0]))  # half turn about approach
    moved = a.copy()
    moved[0, 3] += 0.03
    assert not same_grasp(a, moved)
    turned = a.copy()
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    turned[:3, :3] = a[:3, :3] @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert not same_grasp(a, turned)  # closing axis 45° away


class StuckHand:
    """A MotionBackend whose fingers stop 3 cm apart however they are commanded, as when an
    object is wedged between them; it records what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def plan(self, grasp, width, place):
        self.calls.append(("plan",))
        return None

    def move(self, plan, segment):
        self.calls.append(("move", segment))

    def grip(self, opening):
        self.calls.append(("grip", opening))
        return 0.03

    def opening(self, plan):
        return 0.05

    def shake_out(self, place):
        self.calls.append(("shake_out", tuple(place)))


def test_an_object_stuck_in_the_gripper_is_shaken_then_stops_the_run_before_any_pick() -> None:
    hand = StuckHand()
    sequence_ = PickSequence(hand, max_opening=0.085, shakes=2)
    box = Candidate(grasp_at(BOX_GRASP), width=0.04, quality=0.9)
    result = clean_table(detect=lambda: [box], pick=lambda c: sequence_.pick(c, PLACE))
    assert len(result.attempts) == 1 and result.attempts[0].blocked
    assert "stuck" in result.message and "2 shakes" in result.message and result.picked == 0
    assert not any(call[0] in ("plan", "move") for call in hand.calls)
    # Each shake opens the gripper over the place and closes it to check.
    assert hand.calls == [
        ("grip", 0.0),
        *[("grip", 0.085), ("shake_out", tuple(PLACE)), ("grip", 0.0)] * 2,
        ("grip", 0.085),
    ]


class ShakenFreeHand(StuckHand):
    """A StuckHand whose object falls out over the place at the first shake; then the empty
    hand closes fully and the grasp holds a 4 cm object."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck, self.closed = True, [0.0, 0.04, 0.04]

    def plan(self, grasp, width, place):
        return "plan"

    def grip(self, opening):
        self.calls.append(("grip", opening))
        if opening != 0.0:
            return opening
        return 0.03 if self.stuck else self.closed.pop(0)

    def shake_out(self, place):
        super().shake_out(place)
        self.stuck = False


def test_an_object_shaken_out_over_the_place_lets_the_pick_go_on() -> None:
    hand = ShakenFreeHand()
    box = Candidate(grasp_at(BOX_GRASP), width=0.04, quality=0.9)
    stages: list[Stage] = []
    attempt = PickSequence(hand, max_opening=0.085, report=stages.append).pick([box], PLACE)
    assert attempt.success and not attempt.blocked
    assert stages[:3] == [Stage.PLACING, Stage.PLANNING, Stage.APPROACHING]
    assert [c[0] for c in hand.calls].count("shake_out") == 1
    assert hand.calls.index(("shake_out", tuple(PLACE))) < hand.calls.index(("move", "approach"))


def test_a_shake_the_arm_cannot_make_stops_the_run_with_its_reason() -> None:
    hand = StuckHand()

    def unreachable(place):
        hand.calls.append(("shake_out", tuple(place)))
        raise PlanningError("the place pose has no inverse-kinematics solution")

    hand.shake_out = unreachable
    attempt = PickSequence(hand, max_opening=0.085, shakes=2).pick([], PLACE)
    assert attempt.blocked and "no shake over the place: the place pose has no" in attempt.message
    assert [c[0] for c in hand.calls].count("shake_out") == 1
    assert hand.calls[-1] == ("grip", 0.085)  # left open


def test_no_shakes_means_a_stuck_object_stops_the_run_at_once() -> None:
    hand = StuckHand()
    attempt = PickSequence(hand, max_opening=0.085, shakes=0).pick([], PLACE)
    assert attempt.blocked and hand.calls == [("grip", 0.0), ("grip", 0.085)]


class UnreachableHand:
    """A MotionBackend with an empty hand that can reach no grasp; it records the widths of
    the grasps it was asked to plan, in order."""

    def __init__(self) -> None:
        self.planned: list[float] = []

    def plan(self, grasp, width, place):
        self.planned.append(width)
        raise PlanningError("out of reach")

    def move(self, plan, segment):
        raise AssertionError("nothing is reachable, so nothing moves")

    def grip(self, opening):
        return 0.0

    def opening(self, plan):
        return 0.05


def test_grasps_that_barely_fit_the_gripper_are_tried_after_the_others() -> None:
    widths = [0.085, 0.04, 0.082, 0.079, 0.03]  # best first; 0.085 and 0.082 within 5 mm of 0.085
    step = np.array([0.05, 0.0, 0.0])  # 5 cm apart: different grasps
    candidates = [
        Candidate(grasp_at(BOX_GRASP + i * step), width=w, quality=1.0 - 0.1 * i)
        for i, w in enumerate(widths)
    ]
    hand = UnreachableHand()
    PickSequence(hand, max_opening=0.085, tight_fit_m=0.005).pick(candidates, PLACE)
    assert hand.planned == [0.04, 0.079, 0.03, 0.085, 0.082]
    hand = UnreachableHand()
    PickSequence(hand, max_opening=0.085).pick(candidates, PLACE)
    assert hand.planned == widths  # no tight fit: best first


def test_the_builtin_shake_out_turns_over_the_place_and_ends_at_home(kinematics, robot) -> None:
    backend = BuiltinBackend(kinematics, SimController(robot), PickParams())
    followed: list[np.ndarray] = []
    follow = backend.controller.follow
    backend.controller.follow = lambda path, times: (followed.append(path), follow(path, times))
    backend.shake_out(PLACE)
    tips = np.array([kinematics.forward(q)[:3, 3] for q in followed[0]])
    at_place = np.linalg.norm(tips - PLACE, axis=1) < 1e-3
    assert at_place.sum() > 40  # the shake's waypoints, all with the fingertips at the place
    np.testing.assert_allclose(robot.joint_positions(), kinematics.config.home, atol=0.02)
