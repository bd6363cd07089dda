"""The arm's kinematics on its URDF (pinocchio): the per-arm config, forward and inverse
kinematics of the grasp frame, straight-line Cartesian paths and their timing.

Frames: every pose is a 4x4 homogeneous transform of the grasp frame (grasp_core.pose: origin
between the fingertips, x closing, z approach) in the arm's base frame (``base_link``), m.
Joint positions are in rad, in the order of the config's ``joint_names``.

Safety: no commanded grasp-frame position may leave the configured workspace box; the
planning functions raise WorkspaceError instead of returning such a motion.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin
import yaml

from grasp_core.frames import transform_from_dict
from grasp_core.gripper import GripperSpec
from grasp_core.workspace import Workspace

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


def robots_folder() -> Path:
    """example-robot-data's robots folder, where relative ``urdf`` paths start."""
    dist = importlib.metadata.distribution("example-robot-data")
    return Path(str(dist.locate_file("cmeel.prefix/share/example-robot-data/robots")))


def resolve_urdf(urdf: str) -> Path:
    """The file of a config's ``urdf``: absolute, ``package://<python package>/<path>``
    inside an installed Python package, or relative to example-robot-data's robots folder."""
    if urdf.startswith("package://"):
        package, _, inside = urdf.removeprefix("package://").partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"urdf {urdf}: Python package {package!r} is not installed")
        return Path(spec.submodule_search_locations[0]) / inside
    path = Path(urdf)
    return path if path.is_absolute() else robots_folder() / path


@dataclass(frozen=True)
class ArmConfig:
    """One arm's configuration, read from src/grasp_bringup/config/arms/<arm>.yaml.

    urdf: the arm's URDF (or xacro) file. base_link: the base frame every pose and limit is
    expressed in; flange_link: the link the gripper is mounted on. joint_names: the actuated
    joints in command order; home: their observation pose, rad. tool_offset: 4x4 flange ->
    grasp frame, m. max_joint_speed: rad/s, every joint. gripper: the parallel gripper
    mounted on the flange. workspace: box of allowed grasp-frame positions, base frame.
    places: named grasp-frame positions (3,), m, base frame. camera: 4x4 camera optical
    frame -> base frame. table_center: table top centre (3,), table_size: (sx, sy), m, base
    frame (simulation only). link_radius: m, radius of the capsules that stand for the
    links in simulation.
    """

    arm: str
    urdf: Path
    base_link: str
    flange_link: str
    joint_names: tuple[str, ...]
    home: np.ndarray
    tool_offset: np.ndarray
    max_joint_speed: float
    gripper: GripperSpec
    workspace: Workspace
    places: dict[str, np.ndarray]
    camera: np.ndarray
    table_center: np.ndarray
    table_size: np.ndarray
    link_radius: float


_REQUIRED = (
    "arm",
    "urdf",
    "base_link",
    "flange_link",
    "joint_names",
    "home",
    "tool_offset",
    "max_joint_speed",
    "gripper",
    "workspace",
    "places",
    "camera",
    "table",
)


def load_arm_config(path: str | Path) -> ArmConfig:
    """The ArmConfig of a per-arm YAML; ValueError naming the file and key when malformed."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of the arm's configuration")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    try:
        urdf = resolve_urdf(str(data["urdf"]))
        if not urdf.is_file():
            raise ValueError(f"urdf {urdf} does not exist")
        joints = tuple(str(name) for name in data["joint_names"])
        home = np.asarray(data["home"], np.float64)
        if home.shape != (len(joints),):
            raise ValueError(f"home has {home.size} values for {len(joints)} joints")
        offset = data["tool_offset"]
        tool = np.eye(4)
        tool[:3, :3] = pin.rpy.rpyToMatrix(np.asarray(offset.get("rpy", [0, 0, 0]), np.float64))
        tool[:3, 3] = np.asarray(offset["xyz"], np.float64)
        speed = float(data["max_joint_speed"])
        if speed <= 0:
            raise ValueError(f"max_joint_speed must be > 0 rad/s, got {speed}")
        workspace = Workspace.from_config(data["workspace"])
        places = {k: np.asarray(v, np.float64) for k, v in data["places"].items()}
        outside = [k for k, v in places.items() if v.shape != (3,) or not workspace.contains(v)]
        if outside:
            raise ValueError(f"places {outside} must be [x, y, z] m inside the workspace")
        return ArmConfig(
            arm=str(data["arm"]),
            urdf=urdf,
            base_link=str(data["base_link"]),
            flange_link=str(data["flange_link"]),
            joint_names=joints,
            home=home,
            tool_offset=tool,
            max_joint_speed=speed,
            gripper=GripperSpec(**data["gripper"]),
            workspace=workspace,
            places=places,
            camera=transform_from_dict(data["camera"]),
            table_center=np.asarray(data["table"]["center"], np.float64),
            table_size=np.asarray(data["table"]["size"], np.float64),
            link_radius=float(data.get("link_radius", 0.04)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def urdf_kinematic_xml(urdf: Path, flange_link: str) -> ET.Element:
    """The URDF tree without visuals and collisions, without whatever the URDF mounts past
    the flange, and with continuous joints made revolute.

    The stack's gripper replaces the URDF's own hand; meshes are not needed for kinematics
    and come in formats MuJoCo cannot read (.dae); a continuous joint would be two
    coordinates (cos, sin) in pinocchio, and one angle within +-2 pi everywhere else.
    A .xacro file is expanded with its default arguments first.
    """
    if urdf.suffix == ".xacro":
        import xacro  # only the arms described in xacro need it

        root = ET.fromstring(xacro.process_file(str(urdf)).toxml())
    else:
        root = ET.parse(urdf).getroot()
    joints = root.findall("joint")
    past_flange, grew = set(), True
    while grew:
        children = {
            j.find("child").get("link")
            for j in joints
            if j.find("parent").get("link") in past_flange | {flange_link}
        }
        grew = not children <= past_flange
        past_flange |= children
    for element in root.findall("link") + joints:
        name = element.get("name") if element.tag == "link" else element.find("child").get("link")
        if name in past_flange:
            root.remove(element)
    for link in root.iter("link"):
        for tag in ("visual", "collision"):
            for element in link.findall(tag):
                link.remove(element)
    for joint in root.iter("joint"):
        if joint.get("type") == "continuous":
            joint.set("type", "revolute")
            limit = joint.find("limit")
            if limit is None:
                limit = ET.SubElement(joint, "limit", effort="10", velocity="1")
            limit.set("lower", f"{-2 * math.pi}")
            limit.set("upper", f"{2 * math.pi}")
    return root


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
