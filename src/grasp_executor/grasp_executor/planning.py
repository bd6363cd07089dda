"""A pick as joint paths: observation pose -> pre-grasp -> grasp -> lift -> place -> home.

Poses are 4x4 grasp frames (grasp_core.pose: x closing, z approach) in the arm's base frame,
m; joint paths are (N, dof) in rad, in the config's joint order. Every commanded pose is
checked against the workspace by grasp_executor.kinematics, so a plan never leaves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
from scipy.spatial.transform import Rotation

from grasp_core.gripper import GripperSpec
from grasp_executor.kinematics import ArmKinematics, WorkspaceError, time_path

HALF_TURN_ABOUT_Z = np.diag([-1.0, -1.0, 1.0, 1.0])
LEAN_STEP_RAD = 0.26  # about 15 degrees
FREE_STEP_M = 0.01  # waypoint spacing of transfer motions; approach and lift use step_m


class PlanningError(RuntimeError):
    """No motion reaches the grasp; the message says which stage failed and why."""


@dataclass(frozen=True)
class PickParams:
    """approach_m: pre-grasp stand-off along the approach axis. lift_m: lift height along
    the base's +z. step_m: spacing of Cartesian waypoints. All m. release_tilt_rad: after
    opening at the place, the gripper tilts this far in its closing plane (rad, 0: not at
    all), so that an object hanging on one finger (a mug caught by its rim) slides off: on
    10 simulated UR5 tables this freed one of three such objects (84 against 82 % cleared).
    An arm that cannot tilt there turns its wrist instead (twisted_pose). max_lean_rad: how
    far a grasp the arm cannot reach as given may lean toward the base (leaned_pose), in
    LEAN_STEP_RAD steps (rad, 0: never)."""

    approach_m: float = 0.10
    lift_m: float = 0.15
    step_m: float = 0.005
    release_tilt_rad: float = 0.6
    max_lean_rad: float = 0.52

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> PickParams:
        """The fields that ``parameters`` (the executor node's) name, defaults otherwise."""
        return cls(**{f.name: parameters[f.name] for f in fields(cls) if f.name in parameters})


@dataclass(frozen=True)
class PickPlan:
    """Joint paths of one pick. grasp: the grasp frame executed (4x4, base frame);
    opening: gripper opening before closing, m."""

    grasp: np.ndarray
    opening: float
    to_pregrasp: np.ndarray
    approach: np.ndarray
    lift: np.ndarray
    to_place: np.ndarray
    release: np.ndarray
    to_home: np.ndarray


def offset_along(pose: np.ndarray, distance: float, axis: np.ndarray) -> np.ndarray:
    """``pose`` moved by ``distance`` m along ``axis`` (unit, base frame)."""
    moved = pose.copy()
    moved[:3, 3] += distance * axis
    return moved


def place_pose(position: np.ndarray, grasp: np.ndarray) -> np.ndarray:
    """Grasp frame at ``position`` (m, base frame) approaching straight down, its closing
    axis the grasp's projected on the table so the wrist turns least."""
    closing = grasp[:3, 0] * np.array([1.0, 1.0, 0.0])
    closing = closing / np.linalg.norm(closing) if np.linalg.norm(closing) > 1e-6 else np.eye(3)[0]
    approach = np.array([0.0, 0.0, -1.0])
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([closing, np.cross(approach, closing), approach])
    pose[:3, 3] = position
    return pose


def released_pose(place: np.ndarray, tilt_rad: float) -> np.ndarray:
    """The place pose (4x4, base frame) tilted by tilt_rad about its own y axis (across the
    closing and approach axes), which swings the fingers in their closing plane; the grasp
    frame's origin, between the fingertips, stays where it is."""
    c, s = np.cos(tilt_rad), np.sin(tilt_rad)
    turn = np.eye(4)
    turn[np.ix_([0, 2], [0, 2])] = [[c, s], [-s, c]]
    return place @ turn


def twisted_pose(place: np.ndarray, turn_rad: float = np.pi / 2) -> np.ndarray:
    """The place pose (4x4, base frame) turned by turn_rad (default a quarter turn) about its
    approach axis: the release of an arm that cannot tilt there (a 5-DoF arm pointing down
    turns only its wrist). The fingers sweep round the grasp frame's origin, which stays
    where it is."""
    c, s = np.cos(turn_rad), np.sin(turn_rad)
    turn = np.eye(4)
    turn[:2, :2] = [[c, -s], [s, c]]
    return place @ turn


def release_turns(place: np.ndarray, tilt_rad: float) -> dict[str, np.ndarray]:
    """The poses (4x4, base frame) the open gripper turns to at the place pose ``place``,
    all about the grasp frame's origin: tilted by tilt_rad in the closing plane, twisted a
    quarter turn about the approach, then each the other way. The release turns to the
    first of the first two the arm reaches; a shake (shake_path) visits all four."""
    return {
        "tilted": released_pose(place, tilt_rad),
        "twisted": twisted_pose(place),
        "tilted_back": released_pose(place, -tilt_rad),
        "twisted_back": twisted_pose(place, -np.pi / 2),
    }


# The release turns the release segment tries, in order (release_turns' keys).
RELEASE_TURNS = ("tilted", "twisted")


def shake_path(
    kinematics: ArmKinematics, at_place: np.ndarray, place: np.ndarray, params: PickParams
) -> np.ndarray:
    """(N, dof) joint path (rad) from ``at_place``, joints that put the grasp frame at the
    place pose ``place`` (4x4, base frame), through every release turn (release_turns)
    the arm reaches along a straight line, and back to the place pose: it shakes an object
    wedged in the open gripper out over the place."""
    path = [np.asarray(at_place, np.float64)[np.newaxis]]
    turns = release_turns(place, params.release_tilt_rad)
    for target in (*turns.values(), place):
        leg = kinematics.cartesian_path(path[-1][-1], target, params.step_m)
        if leg is not None:
            path.append(leg[1:])
    return np.vstack(path)


def leaned_pose(grasp: np.ndarray, lean_rad: float, opening: float) -> np.ndarray | None:
    """The grasp frame (4x4, base frame) turned by ``lean_rad`` about the horizontal line
    through its origin square to the base's z axis, so that the approach leans toward the
    base and the pre-grasp comes nearer to it: an arm reaches farther that way, and a 5-DoF
    arm, whose approach stays in the vertical plane through its base axis, can still follow.
    The origin rises until the lower fingertip, open to ``opening`` m along the turned
    closing axis, is no lower than the origin was, so the lean never digs into the table.
    None for a grasp on the base's z axis (no direction to lean)."""
    radial = np.array([grasp[0, 3], grasp[1, 3], 0.0])
    if np.linalg.norm(radial) < 1e-6:
        return None
    radial /= np.linalg.norm(radial)
    # Turning by -lean about this axis swings a downward approach toward +radial.
    axis = np.cross([0.0, 0.0, 1.0], radial)
    leaned = grasp.copy()
    leaned[:3, :3] = Rotation.from_rotvec(-lean_rad * axis).as_matrix() @ grasp[:3, :3]
    leaned[2, 3] += 0.5 * opening * abs(leaned[2, 0])
    return leaned


def grasp_versions(
    grasp: np.ndarray, opening: float, max_lean_rad: float
) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """The poses (4x4, base frame) a backend may plan for ``grasp``, least lean first, as
    (lean rad, pose, its half turn): the grasp as given, then leaned toward the base
    (leaned_pose, fingers open to ``opening`` m) in LEAN_STEP_RAD steps up to max_lean_rad;
    each with its half turn about the approach axis, the same grasp for a parallel gripper,
    which the arm may reach when the other is beyond a joint limit."""
    steps = int(max_lean_rad / LEAN_STEP_RAD + 1e-9)
    for lean in LEAN_STEP_RAD * np.arange(steps + 1):
        pose = leaned_pose(grasp, lean, opening) if lean else grasp
        if pose is None:
            return
        yield float(lean), pose, pose @ HALF_TURN_ABOUT_Z


def unplannable(reasons: Sequence[tuple[float, str]]) -> PlanningError:
    """The error for a grasp none of whose versions (grasp_versions) could be planned, from
    each tried version's (lean rad, reason): the grasp as given's reason and, when leaning
    was tried, the most leaned version's, which often differs (a lean that brings the grasp
    within reach can take a transfer motion out of the workspace)."""
    message = reasons[0][1]
    lean, last = reasons[-1]
    if lean > 0:
        message += f"; leaned {np.degrees(lean):.0f} degrees toward the base: {last}"
    return PlanningError(message)


# A width clamped to the max opening and sent as float32 (grasp_interfaces/Grasp) comes back
# up to ~4e-9 m wider than it.
_WIDTH_SLACK_M = 1e-6


def pick_opening(width: float, gripper: GripperSpec) -> float:
    """The opening (m) before closing on a grasp ``width`` m wide (gripper.approach_opening).
    Raises PlanningError when the grasp is wider than the gripper opens."""
    if width > gripper.max_opening + _WIDTH_SLACK_M:
        raise PlanningError(
            f"grasp width {width:.3f} m exceeds the gripper's {gripper.max_opening} m"
        )
    return float(gripper.approach_opening(width))


def plan_pick(
    kinematics: ArmKinematics,
    start: np.ndarray,
    grasp: np.ndarray,
    width: float,
    place: np.ndarray,
    params: PickParams = PickParams(),
) -> PickPlan:
    """The joint paths of a pick from joint positions ``start`` (rad); ``width``: the grasp's
    opening, m; ``place``: where the grasp frame opens, m, base frame.

    A parallel gripper is symmetric under a half turn about its approach axis, so both
    versions of the grasp are tried and the one whose pre-grasp is nearer ``start`` in joint
    space is kept. A grasp neither version reaches is leaned toward the base (leaned_pose)
    in steps up to params.max_lean_rad: the least lean that plans is kept (on 10 simulated
    WidowX tables, 3 objects near the far edge were out of reach straight down).
    Raises PlanningError naming the stage the grasp as given cannot reach, and the most
    leaned version's (unplannable).
    """
    opening = pick_opening(width, kinematics.config.gripper)
    reasons: list[tuple[float, str]] = []
    for lean, *versions in grasp_versions(grasp, opening, params.max_lean_rad):
        plans: list[PickPlan] = []
        for candidate in versions:
            try:
                plans.append(_plan_one(kinematics, start, candidate, opening, place, params))
            except (PlanningError, WorkspaceError) as err:
                reasons.append((lean, str(err)))
        if plans:
            return min(plans, key=lambda plan: np.abs(plan.to_pregrasp[-1] - start).sum())
    raise unplannable(reasons)


def _plan_one(
    kinematics: ArmKinematics,
    start: np.ndarray,
    grasp: np.ndarray,
    opening: float,
    place: np.ndarray,
    params: PickParams,
) -> PickPlan:
    pregrasp = offset_along(grasp, -params.approach_m, grasp[:3, 2])
    lifted = offset_along(grasp, params.lift_m, np.array([0.0, 0.0, 1.0]))
    home = kinematics.config.home
    to_pregrasp = _free(kinematics, start, pregrasp, params, "pre-grasp pose")
    approach = _cartesian(kinematics, to_pregrasp[-1], grasp, params, "approach")
    lift = _cartesian(kinematics, approach[-1], lifted, params, "lift")
    placed = place_pose(place, grasp)
    to_place = _free(kinematics, lift[-1], placed, params, "place pose")
    # The release turn is a courtesy: the tilt, else the twist (on 10 WidowX tables it freed
    # a mug hooked on a finger: 84.4 -> 86.7 % per attempt), else the arm stays put.
    turns = release_turns(placed, params.release_tilt_rad)
    paths = (
        kinematics.cartesian_path(to_place[-1], turns[key], params.step_m) for key in RELEASE_TURNS
    )
    release = next((path for path in paths if path is not None), to_place[-1:])
    to_home = _free(kinematics, release[-1], kinematics.forward(home), params, "home pose")
    return PickPlan(
        grasp=grasp,
        opening=opening,
        to_pregrasp=to_pregrasp,
        approach=approach,
        lift=lift,
        to_place=to_place,
        release=release,
        to_home=np.vstack([to_home, kinematics.joint_path(to_home[-1], home)[1:]]),
    )


def _free(
    kinematics: ArmKinematics, start: np.ndarray, target: np.ndarray, params: PickParams, what: str
) -> np.ndarray:
    """A transfer motion to ``target``: a straight line of the grasp frame where the arm can
    follow one, since between two poses in the (convex) workspace box it never leaves the
    box, where a line in joint space can swing out of it or below the table; else a line in
    joint space to an inverse-kinematics solution, checked against the workspace."""
    path = kinematics.cartesian_path(start, target, FREE_STEP_M)
    if path is not None:
        return path
    goal = kinematics.inverse(target, start)
    if goal is None:
        raise PlanningError(f"the {what} has no inverse-kinematics solution")
    return kinematics.joint_path(start, goal)


def _cartesian(
    kinematics: ArmKinematics, start: np.ndarray, target: np.ndarray, params: PickParams, what: str
) -> np.ndarray:
    path = kinematics.cartesian_path(start, target, params.step_m)
    if path is None:
        raise PlanningError(f"the {what} is not a straight line the arm can follow")
    return path


class JointController(Protocol):
    """An arm driven by joint trajectories: a controller topic on a robot, or the simulator."""

    def joints(self) -> np.ndarray:
        """Current joint positions, rad, in the config's order."""

    def follow(self, path: np.ndarray, times: np.ndarray) -> None:
        """Run a (N, dof) joint path (rad) at times (N,) s to its end; raises if cancelled."""

    def grip(self, opening: float) -> float:
        """Command the gripper opening (m); the measured opening once it settles, m."""


class BuiltinBackend:
    """The motion backend without MoveIt: pinocchio inverse kinematics, straight-line
    Cartesian segments, joint trajectories timed at the arm's max_joint_speed."""

    def __init__(
        self, kinematics: ArmKinematics, controller: JointController, params: PickParams
    ) -> None:
        self.kinematics, self.controller, self.params = kinematics, controller, params

    def plan(self, grasp: np.ndarray, width: float, place: np.ndarray) -> PickPlan:
        return plan_pick(
            self.kinematics, self.controller.joints(), grasp, width, place, self.params
        )

    def move(self, plan: PickPlan, segment: str) -> None:
        if segment == "back_out":
            path = plan.approach[::-1]
        elif segment == "lift_to_home":
            path = self.kinematics.joint_path(plan.lift[-1], self.kinematics.config.home)
        else:
            path = getattr(plan, segment)
        self.controller.follow(path, time_path(path, self.kinematics.config.max_joint_speed))

    def grip(self, opening: float) -> float:
        return self.controller.grip(opening)

    def opening(self, plan: PickPlan) -> float:
        return plan.opening

    def shake_out(self, place: np.ndarray) -> None:
        kinematics, home = self.kinematics, self.kinematics.config.home
        # The closing axis along the base's x: no grasp to follow.
        placed = place_pose(place, np.eye(4))
        to_place = _free(kinematics, self.controller.joints(), placed, self.params, "place pose")
        shake = shake_path(kinematics, to_place[-1], placed, self.params)
        to_home = _free(kinematics, shake[-1], kinematics.forward(home), self.params, "home pose")
        path = np.vstack(
            [to_place, shake[1:], to_home[1:], kinematics.joint_path(to_home[-1], home)[1:]]
        )
        self.controller.follow(path, time_path(path, kinematics.config.max_joint_speed))
