"""A simulated robot at the table: an arm from its URDF with the stack's parallel gripper on
its flange, position-controlled in MuJoCo beside a TableScene of objects, and the camera
of its hand-eye calibration.

The arm is compiled from the URDF without its meshes (example-robot-data ships .dae, which
MuJoCo cannot read): each link is drawn and collided as capsules between its joint origins,
while masses and inertias stay the URDF's. Gravity is compensated on the arm, as an arm
controller does, so stiff joint position servos track a trajectory within a few mrad and
the arm pushes on what it meets. Arm links collide with the table and objects, not with
each other.

Frames: poses handed in and out are in the arm's base frame (base_link, z up), m / rad. The
scene's world frame is the table's (origin at the table top centre); the base sits at
-table_center in it, axes aligned.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from grasp_core.arm import ArmConfig, urdf_kinematic_xml
from grasp_core.camera import D435_COLOR_640X480, CameraIntrinsics
from grasp_sim.gripper import hand_xml
from grasp_sim.objects import ObjectModel, sample_objects
from grasp_sim.scene import TABLE_HALF_SIZE, CameraPose, Frame, TableScene, quat_from_matrix

ARM_PREFIX = "arm/"
# The gripper is attached to the arm before the arm joins the scene: both prefixes apply.
HAND_PREFIX = ARM_PREFIX + "gripper/"
# Joint servo stiffness: the URDF's effort limit is reached at this error (rad).
FULL_EFFORT_ERROR_RAD = 0.01
# Reflected motor inertia (kg m^2) that keeps light wrist joints stable under stiff servos.
ARMATURE = 0.1
# After a trajectory's last point, time to come to rest (s).
SETTLE_S = 0.3
# Control period: joint targets are interpolated at this rate (s).
CONTROL_PERIOD_S = 0.01
# The gripper's entry in joint states: the gap between the fingers, m.
GRIPPER_JOINT = "gripper_opening"
# Objects at least this high above the table top (m) and touching both fingers are held.
HELD_CLEARANCE_M = 0.01
# Time the fingers get to close on an object or open after a gripper command, s.
GRIP_SETTLE_S = 0.6


def arm_spec(config: ArmConfig) -> mujoco.MjSpec:
    """The arm as an MjSpec: capsule links, servos on the configured joints, gravity
    compensation, and the stack's gripper at flange * tool_offset."""
    root = urdf_kinematic_xml(config.urdf, config.flange_link)
    efforts = {
        joint.get("name"): float(joint.find("limit").get("effort"))
        for joint in root.iter("joint")
        if joint.find("limit") is not None
    }
    compiler = ET.SubElement(ET.SubElement(root, "mujoco"), "compiler")
    # Keep fixed links (the flange) as bodies so the gripper can be mounted on them.
    compiler.set("fusestatic", "false")
    spec = mujoco.MjSpec.from_string(ET.tostring(root, encoding="unicode"))
    for body in spec.bodies:
        body.gravcomp = 1.0
        for child in body.bodies:
            if child.parent.name == body.name and np.linalg.norm(child.pos) > 0.01:
                geom = body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE)
                geom.fromto = [0.0, 0.0, 0.0, *child.pos]
                geom.size = [config.link_radius, 0.0, 0.0]
                # Type 2 meets affinity 1 (table, objects, gripper) but not other links.
                geom.contype, geom.conaffinity = 2, 1
                geom.rgba = [0.7, 0.72, 0.75, 1.0]
    for name in config.joint_names:
        spec.joint(name).armature = ARMATURE
        effort = efforts.get(name, 10.0)
        actuator = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=effort / FULL_EFFORT_ERROR_RAD, dampratio=1.0)
        actuator.forcerange = [-effort, effort]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    bodies, sections = hand_xml(config.gripper)
    hand = mujoco.MjSpec.from_string(
        f'<mujoco><worldbody><body name="hand" gravcomp="1">{bodies}</body></worldbody>'
        f"{sections}</mujoco>"
    )
    mount = spec.body(config.flange_link).add_frame(
        pos=config.tool_offset[:3, 3], quat=quat_from_matrix(config.tool_offset[:3, :3])
    )
    mount.attach_body(hand.body("hand"), HAND_PREFIX.removeprefix(ARM_PREFIX), "")
    return spec


@dataclass(frozen=True)
class Trajectory:
    """Joint targets: positions (N, dof) rad at times (N,) s after ``start`` (sim time, s)."""

    start: float
    times: np.ndarray
    positions: np.ndarray


def trajectory_arrays(
    names: Sequence[str],
    times: Sequence[float],
    positions: Sequence[Sequence[float]],
    joint_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(N,) times (s) and (N, dof) positions (rad) in ``joint_names`` order of a trajectory
    given for the joints ``names``; ValueError when the names are not the arm's joints or a
    point lacks positions."""
    if sorted(names) != sorted(joint_names) or len(set(names)) != len(names):
        raise ValueError(
            f"trajectory joints {list(names)} are not the arm's joints {list(joint_names)}"
        )
    if not times or any(len(p) != len(names) for p in positions):
        raise ValueError(f"every trajectory point needs {len(names)} positions")
    order = [list(names).index(n) for n in joint_names]
    return np.asarray(times, np.float64), np.asarray(positions, np.float64)[:, order]


class SimRobot:
    """The simulated arm, gripper, table, objects and camera of one ArmConfig."""

    def __init__(
        self,
        config: ArmConfig,
        objects: int | Sequence[ObjectModel] = 3,
        seed: int = 0,
        object_set: str = "novel",
        intrinsics: CameraIntrinsics = D435_COLOR_640X480,
    ) -> None:
        if not np.allclose(config.table_size, 2 * TABLE_HALF_SIZE):
            raise ValueError(
                f"the simulated table is {2 * TABLE_HALF_SIZE} m square; {config.arm}'s config "
                f"asks for {config.table_size.tolist()} m"
            )
        self.config = config
        self.object_set = object_set
        self.intrinsics = intrinsics
        self.world_from_base = np.eye(4)
        self.world_from_base[:3, 3] = -config.table_center
        camera = self.world_from_base @ config.camera
        self.camera = CameraPose(camera[:3, 3], camera[:3, :3])
        self.scene: TableScene | None = None
        self.reset(objects, seed)

    def _mount_arm(self, spec: mujoco.MjSpec) -> None:
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        frame = spec.worldbody.add_frame(pos=self.world_from_base[:3, 3])
        frame.attach_body(arm_spec(self.config).body(self.config.base_link), ARM_PREFIX, "")

    def reset(self, objects: int | Sequence[ObjectModel], seed: int) -> None:
        """A new table: ``objects`` (a count drawn from the object set, or the models
        themselves) dropped by ``seed`` and settled, the arm at home, the gripper open."""
        if self.scene is not None:
            self.scene.close()
        rng = np.random.default_rng(seed)
        if isinstance(objects, int):
            models = sample_objects(rng, objects, self.object_set)
        else:
            models = list(objects)
        self.scene = TableScene(models, rng, self.intrinsics, edit=self._mount_arm)
        m = self.scene.model

        def ids(kind: mujoco.mjtObj, names: list[str]) -> np.ndarray:
            found = np.array([mujoco.mj_name2id(m, kind, n) for n in names], int)
            if (found < 0).any():
                raise ValueError(f"the simulated {self.config.arm} lacks {names}")
            return found

        arm = [ARM_PREFIX + n for n in self.config.joint_names]
        joints = ids(mujoco.mjtObj.mjOBJ_JOINT, arm)
        self._qpos = m.jnt_qposadr[joints]
        self._qvel = m.jnt_dofadr[joints]
        self._ctrl = ids(mujoco.mjtObj.mjOBJ_ACTUATOR, arm)
        self._finger_ctrl = ids(mujoco.mjtObj.mjOBJ_ACTUATOR, [HAND_PREFIX + "finger_pos"])[0]
        fingers = ids(mujoco.mjtObj.mjOBJ_JOINT, [HAND_PREFIX + "finger_pos"])
        self._finger_qpos = m.jnt_qposadr[fingers[0]]
        self._finger_geom = np.zeros(m.ngeom, bool)
        self._finger_geom[
            ids(mujoco.mjtObj.mjOBJ_GEOM, [HAND_PREFIX + "finger_pos", HAND_PREFIX + "finger_neg"])
        ] = True
        self._object_bodies = ids(mujoco.mjtObj.mjOBJ_BODY, [f"obj{k}" for k in range(len(models))])
        body_names = (
            mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or "" for b in range(m.nbody)
        )
        robot_body = np.array([name.startswith(ARM_PREFIX) for name in body_names])
        self._robot_geom = robot_body[m.geom_bodyid]
        self._trajectory: Trajectory | None = None
        d = self.scene.data
        d.qpos[self._qpos] = d.ctrl[self._ctrl] = self.config.home
        self.set_gripper(self.config.gripper.max_opening)
        d.qpos[self._finger_qpos : self._finger_qpos + 2] = d.ctrl[self._finger_ctrl]
        mujoco.mj_forward(m, d)
        self.scene.settle()

    @property
    def time(self) -> float:
        """Simulated time since the table was made, s."""
        return float(self.scene.data.time)

    def joint_positions(self) -> np.ndarray:
        """(dof,) arm joint positions, rad, in the config's joint order."""
        return self.scene.data.qpos[self._qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """(dof,) arm joint velocities, rad/s."""
        return self.scene.data.qvel[self._qvel].copy()

    def command(self, times: np.ndarray, positions: np.ndarray) -> None:
        """Start following joint targets (N, dof) rad at times (N,) s from now, replacing any
        running trajectory. With times[0] > 0 the arm first moves from its current target."""
        times, positions = np.asarray(times, np.float64), np.asarray(positions, np.float64)
        dof = len(self.config.joint_names)
        if positions.ndim != 2 or positions.shape[1] != dof or len(times) != len(positions):
            raise ValueError(
                f"a trajectory needs (N,) times and (N, {dof}) positions, got {times.shape} "
                f"and {positions.shape}"
            )
        if len(times) == 0 or times[0] < 0 or np.any(np.diff(times) < 0):
            raise ValueError("trajectory times must be non-empty, >= 0 and non-decreasing")
        if not (np.isfinite(times).all() and np.isfinite(positions).all()):
            raise ValueError("trajectory times and positions must be finite")
        if times[0] > 0:
            current = self.scene.data.ctrl[self._ctrl].copy()
            times, positions = np.r_[0.0, times], np.vstack([current, positions])
        self._trajectory = Trajectory(self.time, times, positions)

    def busy(self) -> bool:
        """Whether a commanded trajectory still has targets ahead."""
        t = self._trajectory
        return t is not None and self.time < t.start + t.times[-1]

    def step(self, seconds: float) -> None:
        """Advance physics by ``seconds`` s, the servos tracking the running trajectory."""
        m, d = self.scene.model, self.scene.data
        end = d.time + seconds
        substeps = max(1, round(CONTROL_PERIOD_S / m.opt.timestep))
        while d.time < end - 1e-9:
            t = self._trajectory
            if t is not None:
                since = d.time + CONTROL_PERIOD_S - t.start
                d.ctrl[self._ctrl] = [np.interp(since, t.times, p) for p in t.positions.T]
            mujoco.mj_step(m, d, nstep=substeps)

    def follow(self, times: np.ndarray, positions: np.ndarray) -> None:
        """Run a joint trajectory (see command) to its end, then let the arm settle."""
        self.command(times, positions)
        self.step(self._trajectory.times[-1] + SETTLE_S)

    def set_gripper(self, opening: float) -> None:
        """Command the gap between the fingers (m), clipped to the gripper's range; the
        fingers close with a limited force, so they stop on an object."""
        if not np.isfinite(opening):
            raise ValueError(f"gripper opening must be a finite width in m, got {opening}")
        spec = self.config.gripper
        opening = float(np.clip(opening, 0.0, spec.max_opening))
        self.scene.data.ctrl[self._finger_ctrl] = (spec.max_opening - opening) / 2

    def gripper_opening(self) -> float:
        """Current gap between the fingers, m."""
        travel = float(self.scene.data.qpos[self._finger_qpos])
        return self.config.gripper.max_opening - 2 * travel

    def render(self) -> Frame:
        """What the configured camera sees: rgb and depth in m (no instance mask: a camera
        has none, and skipping it saves a third of the rendering)."""
        return self.scene.render(self.camera, instances=False)

    def place_object(self, index: int, position: np.ndarray, quat: np.ndarray) -> None:
        """Put object ``index`` at ``position`` (m, base frame) with orientation ``quat``
        (w x y z, base frame), at rest."""
        self.scene.set_pose(index, np.asarray(position) + self.world_from_base[:3, 3], quat)

    def object_positions(self) -> np.ndarray:
        """(K, 3) object positions, m, base frame."""
        return self.scene.object_positions() - self.world_from_base[:3, 3]

    def _touching(self, own: np.ndarray) -> dict[int, set[int]]:
        """Body of every geom in contact with a geom of the ``own`` mask (ngeom,) -> the own
        geoms it touches."""
        d, body = self.scene.data, self.scene.model.geom_bodyid
        touching: dict[int, set[int]] = {}
        for contact in d.contact[: d.ncon]:
            for mine, other in ((contact.geom1, contact.geom2), (contact.geom2, contact.geom1)):
                if own[mine]:
                    touching.setdefault(int(body[other]), set()).add(int(mine))
        return touching

    def held(self) -> np.ndarray:
        """(K,) bool: the object touches both fingers and is lifted off the table."""
        touching = self._touching(self._finger_geom)
        gripped = np.array([len(touching.get(int(b), ())) == 2 for b in self._object_bodies], bool)
        lifted = self.scene.object_positions()[:, 2] > HELD_CLEARANCE_M
        return gripped & lifted

    def on_robot(self) -> np.ndarray:
        """(K,) bool: the object touches the arm or the gripper (held, hooked on a finger or
        lodged on a link), whatever its height."""
        return np.isin(self._object_bodies, list(self._touching(self._robot_geom)))

    def ground_truth(self) -> dict:
        """JSON-ready state for scoring: each object's name, family, position (m, base
        frame), whether it is on the table and whether it is held; the gripper opening (m)."""
        positions, held = self.object_positions(), self.held()
        on_table = self.scene.on_table() & ~held
        return {
            "time": self.time,
            "gripper_opening": self.gripper_opening(),
            "objects": [
                {
                    "name": obj.name,
                    "family": obj.family,
                    "position": np.round(p, 4).tolist(),
                    "on_table": bool(t),
                    "held": bool(h),
                }
                for obj, p, t, h in zip(self.scene.objects, positions, on_table, held, strict=True)
            ],
        }

    def close(self) -> None:
        """Free the renderer."""
        self.scene.close()


class SimController:
    """A SimRobot as grasp_executor.planning's JointController, without ROS: trajectories and
    gripper commands run in simulated time, so a pick takes as long as physics needs."""

    def __init__(self, robot: SimRobot) -> None:
        self.robot = robot

    def joints(self) -> np.ndarray:
        """(dof,) arm joint positions, rad."""
        return self.robot.joint_positions()

    def follow(self, path: np.ndarray, times: np.ndarray) -> None:
        """Run the (N, dof) joint path (rad) at times (N,) s to its end and settle."""
        self.robot.follow(times, path)

    def grip(self, opening: float) -> float:
        """Command the gap between the fingers (m); the gap once they have settled, m."""
        self.robot.set_gripper(opening)
        self.robot.step(GRIP_SETTLE_S)
        return self.robot.gripper_opening()
