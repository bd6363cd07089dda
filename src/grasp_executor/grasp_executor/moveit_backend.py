"""The MoveIt motion backend (moveit_py), for ROS installs with MoveIt 2 configured for the
arm. Not importable where MoveIt is absent; grasp_executor.node imports it only when the
parameter backend is 'moveit'.

Free motions (to the pre-grasp, to the place, home) are planned by the pipeline named
``free`` in the arm's moveit_py configuration (e.g. OMPL); the approach and the lift by
``straight`` (e.g. Pilz LIN), so they stay straight lines as in the built-in backend. Every
grasp-frame pose is checked against the configured workspace before planning. As in the
built-in backend, a grasp whose pre-grasp or grasp has no inverse-kinematics solution
(MoveIt's solver for the planning group) is tried in its half turn and then leaned toward
the base (planning.grasp_versions), least lean first. An object stuck in the hand is shaken
out over the place through the same release turns (planning.release_turns). The gripper
stays on the gripper topic (grasp_executor.controller), as with the built-in backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import PoseStamped

from grasp_core.arm import ArmConfig
from grasp_core.frames import invert, xyz_quat
from grasp_executor.controller import MotionError, RosJointController
from grasp_executor.planning import (
    RELEASE_TURNS,
    PickParams,
    PlanningError,
    grasp_versions,
    offset_along,
    pick_opening,
    place_pose,
    release_turns,
    unplannable,
)

# segment -> (pose key of the plan, pipeline); "release" tries RELEASE_TURNS instead.
SEGMENTS = {
    "to_pregrasp": ("pregrasp", "free"),
    "approach": ("grasp", "straight"),
    "back_out": ("pregrasp", "straight"),
    "lift": ("lifted", "straight"),
    "lift_to_home": (None, "free"),
    "to_place": ("place", "free"),
    "release": (None, "straight"),
    "to_home": (None, "free"),
}


# How long MoveIt's inverse kinematics may search for one pose, s.
IK_TIMEOUT_S = 0.05
# The poses that must have an inverse-kinematics solution before a grasp version is planned;
# the lift, place and release are planned (and may fail) as their segments come.
REACHED_FIRST = ("pregrasp", "grasp")


@dataclass(frozen=True)
class PosePlan:
    """Grasp-frame targets of one pick (4x4, base frame) and the opening before closing, m."""

    poses: dict[str, np.ndarray]
    opening: float


class MoveItBackend:
    """MotionBackend over moveit_py. planning_group: the arm's MoveIt planning group."""

    def __init__(
        self,
        config: ArmConfig,
        controller: RosJointController,
        params: PickParams,
        planning_group: str = "manipulator",
    ) -> None:
        from moveit.core.robot_state import RobotState
        from moveit.planning import MoveItPy, PlanRequestParameters

        self.config, self.controller, self.params = config, controller, params
        self.moveit = MoveItPy(node_name="grasp_executor_moveit")
        self.group = planning_group
        self.arm = self.moveit.get_planning_component(planning_group)
        self.ik_state = RobotState(self.moveit.get_robot_model())
        self.pipelines = {
            name: PlanRequestParameters(self.moveit, name) for name in ("free", "straight")
        }

    def plan(self, grasp: np.ndarray, width: float, place: np.ndarray) -> PosePlan:
        """The poses of the first version of the grasp (planning.grasp_versions) whose every
        pose lies in the workspace and whose pre-grasp and grasp have an inverse-kinematics
        solution; PlanningError (planning.unplannable) with the reasons when none has."""
        opening = pick_opening(width, self.config.gripper)
        reasons: list[tuple[float, str]] = []
        for lean, *versions in grasp_versions(grasp, opening, self.params.max_lean_rad):
            for version in versions:
                poses = self._poses(version, place)
                if (reason := self._unplannable(poses)) is None:
                    return PosePlan(poses, opening)
                reasons.append((lean, reason))
        raise unplannable(reasons)

    def _poses(self, grasp: np.ndarray, place: np.ndarray) -> dict[str, np.ndarray]:
        poses = {
            "grasp": grasp,
            "pregrasp": offset_along(grasp, -self.params.approach_m, grasp[:3, 2]),
            "lifted": offset_along(grasp, self.params.lift_m, np.array([0.0, 0.0, 1.0])),
            "place": place_pose(place, grasp),
        }
        poses.update(release_turns(poses["place"], self.params.release_tilt_rad))
        return poses

    def _unplannable(self, poses: dict[str, np.ndarray]) -> str | None:
        """Why a pick through these poses cannot be planned (a pose outside the workspace,
        or no joint solution for the pre-grasp or grasp), or None."""
        for key, pose in poses.items():
            if not self.config.workspace.contains(pose[:3, 3]):
                xyz = np.round(pose[:3, 3], 3).tolist()
                return f"the {key} pose {xyz} m is outside the workspace"
        for key in REACHED_FIRST:
            goal = self._flange_goal(poses[key]).pose
            if not self.ik_state.set_from_ik(
                self.group, goal, self.config.flange_link, IK_TIMEOUT_S
            ):
                return f"MoveIt finds no joint solution for the {key} pose"
        return None

    def move(self, plan: PosePlan, segment: str) -> None:
        key, pipeline = SEGMENTS[segment]
        if segment == "release":
            # A courtesy, as in the built-in backend: the tilt, else the twist (an arm that
            # cannot tilt there, the 5-DoF WidowX), else the arm stays where it placed.
            planned = (self._plan(plan.poses[k], pipeline) for k in RELEASE_TURNS)
            trajectory = next((t for t in planned if t is not None), None)
            if trajectory is not None:
                self.moveit.execute(trajectory, controllers=[])
            return
        trajectory = self._plan(None if key is None else plan.poses[key], pipeline)
        if trajectory is None:
            raise MotionError(f"MoveIt found no {pipeline} motion for {segment}")
        self.moveit.execute(trajectory, controllers=[])

    def _plan(self, grasp: np.ndarray | None, pipeline: str):
        """A trajectory from the current state to ``grasp`` (None: the "home" named state),
        or None when the pipeline finds none."""
        self.arm.set_start_state_to_current_state()
        if grasp is None:
            self.arm.set_goal_state(configuration_name="home")
        else:
            self.arm.set_goal_state(
                pose_stamped_msg=self._flange_goal(grasp), pose_link=self.config.flange_link
            )
        result = self.arm.plan(single_plan_parameters=self.pipelines[pipeline])
        return result.trajectory if result else None

    def grip(self, opening: float) -> float:
        return self.controller.grip(opening)

    def opening(self, plan: PosePlan) -> float:
        return plan.opening

    def shake_out(self, place: np.ndarray) -> None:
        """To the place (free), each release turn that plans and back to the place pose
        (straight), home (free), as the built-in backend's shake_out."""
        placed = place_pose(place, np.eye(4))
        turns = release_turns(placed, self.params.release_tilt_rad)
        for goal, pipeline in (
            (placed, "free"), *((turn, "straight") for turn in turns.values()),
            (placed, "straight"), (None, "free"),
        ):  # fmt: skip
            trajectory = self._plan(goal, pipeline)
            if trajectory is None and pipeline == "free":
                raise PlanningError(f"MoveIt found no free motion to shake over {place} m")
            if trajectory is not None:
                self.moveit.execute(trajectory, controllers=[])

    def _flange_goal(self, grasp: np.ndarray) -> PoseStamped:
        flange = grasp @ invert(self.config.tool_offset)
        xyz, quat = xyz_quat(flange)
        msg = PoseStamped()
        msg.header.frame_id = self.config.base_link
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in xyz)
        q.x, q.y, q.z, q.w = (float(v) for v in quat)
        return msg
