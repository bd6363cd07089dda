"""The arm's kinematics on its URDF (pinocchio): forward and inverse kinematics of the grasp
frame, straight-line Cartesian paths and their timing (the arm's config: grasp_core.arm).

Frames: every pose is a 4x4 homogeneous transform of the grasp frame (grasp_core.pose: origin
between the fingertips, x closing, z approach) in the arm's base frame (``base_link``), m.
Joint positions are in rad, in the order of the config's ``joint_names``.

Safety: no commanded grasp-frame position may leave the configured workspace box; the
planning functions raise WorkspaceError instead of returning such a motion.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pinocchio as pin

from grasp_core.arm import ArmConfig, urdf_kinematic_xml

# A solution must put the grasp frame this close to the target (m, rad).
POSITION_TOLERANCE_M = 1e-4
ROTATION_TOLERANCE_RAD = 1e-3
# Damping of the least-squares step: large enough to stay bounded near singularities.
DAMPING = 1e-2
# Largest joint change of one solver step, rad. Near a singularity the damped step can be
# radians long and throws the solver onto another branch or against a joint limit, where
# it stalls; capped steps stay where the linearisation holds.
MAX_STEP_RAD = 0.3
MAX_ITERATIONS = 200
# Random restarts of inverse() when the seed does not converge (deterministic).
RESTARTS = 10
# Largest joint change (rad) between neighbouring waypoints of a Cartesian path: a larger
# jump means the solver switched to another configuration branch.
MAX_WAYPOINT_STEP_RAD = 0.2


class WorkspaceError(ValueError):
    """A commanded grasp-frame position lies outside the configured workspace."""


class ArmKinematics:
    """Forward / inverse kinematics of the grasp frame of one arm (pinocchio)."""

    def __init__(self, config: ArmConfig) -> None:
        self.config = config
        xml = ET.tostring(urdf_kinematic_xml(config.urdf, config.flange_link), encoding="unicode")
        full = pin.buildModelFromXML(xml)
        unknown = [name for name in config.joint_names if not full.existJointName(name)]
        if unknown:
            raise ValueError(f"{config.urdf.name} has no joints {unknown}")
        keep = {full.getJointId(name) for name in config.joint_names}
        lock = [j for j in range(1, full.njoints) if j not in keep]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full))
        self.data = self.model.createData()
        # q index of each configured joint, in command order.
        self._index = np.array(
            [self.model.joints[self.model.getJointId(n)].idx_q for n in config.joint_names]
        )
        self.lower = self.model.lowerPositionLimit[self._index].copy()
        self.upper = self.model.upperPositionLimit[self._index].copy()
        flange = self.model.getFrameId(config.flange_link)
        self._base = self.model.getFrameId(config.base_link)
        if flange >= len(self.model.frames) or self._base >= len(self.model.frames):
            raise ValueError(
                f"{config.urdf.name} lacks link {config.flange_link!r} or {config.base_link!r}"
            )
        frame = self.model.frames[flange]
        self._grasp = self.model.addFrame(
            pin.Frame(
                "grasp",
                frame.parentJoint,
                frame.placement * pin.SE3(config.tool_offset),
                pin.FrameType.OP_FRAME,
            )
        )
        self.data = self.model.createData()

    @property
    def dof(self) -> int:
        return len(self.config.joint_names)

    def _q(self, joints: np.ndarray) -> np.ndarray:
        q = pin.neutral(self.model)
        q[self._index] = joints
        return q

    def _grasp_in_universe(self, joints: np.ndarray) -> tuple[pin.SE3, pin.SE3]:
        pin.framesForwardKinematics(self.model, self.data, self._q(joints))
        return self.data.oMf[self._base], self.data.oMf[self._grasp]

    def forward(self, joints: np.ndarray) -> np.ndarray:
        """4x4 grasp frame in the base frame at joint positions (rad)."""
        base, grasp = self._grasp_in_universe(np.asarray(joints, np.float64))
        return (base.actInv(grasp)).homogeneous

    def within_limits(self, joints: np.ndarray) -> bool:
        """Whether joint positions (rad) lie inside the URDF's limits."""
        return bool(np.all(joints >= self.lower - 1e-9) and np.all(joints <= self.upper + 1e-9))

    def check_workspace(self, pose: np.ndarray) -> None:
        """Raise WorkspaceError if a 4x4 grasp pose (base frame) lies outside the workspace."""
        ws = self.config.workspace
        if not ws.contains(pose[:3, 3]):
            raise WorkspaceError(
                f"grasp-frame position {np.round(pose[:3, 3], 3).tolist()} m is outside the "
                f"{self.config.arm} workspace {ws.lower.tolist()} .. {ws.upper.tolist()} m"
            )

    def _solve(self, target: pin.SE3, joints: np.ndarray) -> np.ndarray | None:
        """Damped least squares from ``joints``; target in pinocchio's universe frame."""
        q = self._q(joints)
        index = self._index
        for _ in range(MAX_ITERATIONS):
            pin.framesForwardKinematics(self.model, self.data, q)
            error = pin.log6(self.data.oMf[self._grasp].actInv(target)).vector
            if (
                np.linalg.norm(error[:3]) < POSITION_TOLERANCE_M
                and np.linalg.norm(error[3:]) < ROTATION_TOLERANCE_RAD
            ):
                return q[index].copy()
            jac = pin.computeFrameJacobian(self.model, self.data, q, self._grasp, pin.LOCAL)
            jac = jac[:, index]
            step = jac.T @ np.linalg.solve(jac @ jac.T + DAMPING**2 * np.eye(6), error)
            step *= min(1.0, MAX_STEP_RAD / max(np.abs(step).max(), 1e-12))
            q[index] = np.clip(q[index] + step, self.lower, self.upper)
        return None

    def inverse(
        self, target: np.ndarray, seed: np.ndarray, restarts: int = RESTARTS
    ) -> np.ndarray | None:
        """Joint positions (rad) putting the grasp frame at ``target`` (4x4, base frame), or
        None when no solution within the joint limits is found.

        Starts from ``seed`` (rad), so a solution near it is preferred; then tries up to
        ``restarts`` random configurations (the same ones each call). WorkspaceError if
        target is outside the workspace.
        """
        self.check_workspace(target)
        base, _ = self._grasp_in_universe(np.asarray(seed, np.float64))
        goal = base * pin.SE3(np.asarray(target, np.float64))
        # The same restarts every call, so a plan does not depend on what was planned before.
        rng = np.random.default_rng(0)
        starts = [np.clip(seed, self.lower, self.upper)]
        starts += [rng.uniform(self.lower, self.upper) for _ in range(restarts)]
        for start in starts:
            solution = self._solve(goal, start)
            if solution is not None:
                return solution
        return None

    def cartesian_path(
        self, start: np.ndarray, target: np.ndarray, step_m: float = 0.005
    ) -> np.ndarray | None:
        """(N, dof) joint path (rad) from ``start`` along which the grasp frame moves on the
        straight line to ``target`` (4x4, base frame), orientation interpolated on the
        geodesic; waypoints at most step_m (m) / 0.05 rad apart. None when a waypoint has no
        solution near its predecessor (joint jump > MAX_WAYPOINT_STEP_RAD)."""
        self.check_workspace(target)
        start = np.asarray(start, np.float64)
        begin = pin.SE3(self.forward(start))
        end = pin.SE3(np.asarray(target, np.float64))
        turn = pin.log3(begin.rotation.T @ end.rotation)
        count = max(
            1,
            math.ceil(np.linalg.norm(end.translation - begin.translation) / step_m),
            math.ceil(np.linalg.norm(turn) / 0.05),
        )
        path = [start]
        for alpha in np.linspace(0.0, 1.0, count + 1)[1:]:
            pose = np.eye(4)
            pose[:3, :3] = begin.rotation @ pin.exp3(alpha * turn)
            pose[:3, 3] = (1 - alpha) * begin.translation + alpha * end.translation
            q = self.inverse(pose, path[-1], restarts=0)
            if q is None or np.abs(q - path[-1]).max() > MAX_WAYPOINT_STEP_RAD:
                return None
            path.append(q)
        return np.array(path)

    def joint_path(self, start: np.ndarray, goal: np.ndarray, step_rad: float = 0.05) -> np.ndarray:
        """(N, dof) straight line in joint space (rad), waypoints at most step_rad apart.

        WorkspaceError if the grasp frame leaves the workspace at any waypoint after the
        first (the first is where the arm already is).
        """
        start, goal = np.asarray(start, np.float64), np.asarray(goal, np.float64)
        count = max(1, math.ceil(np.abs(goal - start).max() / step_rad))
        path = start + np.linspace(0.0, 1.0, count + 1)[:, None] * (goal - start)
        for q in path[1:]:
            self.check_workspace(self.forward(q))
        return path


def time_path(path: np.ndarray, max_joint_speed: float) -> np.ndarray:
    """(N,) times (s, from 0) of a (N, dof) joint path (rad) run at max_joint_speed (rad/s)
    on the joint that moves most in each segment."""
    if max_joint_speed <= 0:
        raise ValueError(f"max_joint_speed must be > 0 rad/s, got {max_joint_speed}")
    steps = np.abs(np.diff(path, axis=0)).max(axis=1) if len(path) > 1 else np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(steps / max_joint_speed)])
