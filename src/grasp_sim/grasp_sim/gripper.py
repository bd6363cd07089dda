"""A free-floating parallel-jaw gripper in the MuJoCo table scene, for grasp trials.

The gripper body follows a kinematic (mocap) target through a stiff weld, so it moves like
an arm's flange under position control yet still stops and pushes on contact; two fingers
slide along its closing axis under force-limited position control. Its frame is the
stack's gripper frame (grasp_core.pose): origin between the fingertips, x closing, z
approach. Finger contacts use stiff solref and elliptic cones (see grasp_sim.scene) so
cylinders do not slip out.
"""

from __future__ import annotations

import mujoco
import numpy as np

from grasp_core.gripper import DEFAULT_GRIPPER, GripperSpec
from grasp_sim.scene import TIMESTEP, TableScene, quat_from_matrix

PARK = np.array([0.0, 0.0, 3.0])  # far above the camera's view, m (world)
SPEED_M_S = 0.25
GRIP_FORCE_N = 30.0
# Stiff travel limits: MuJoCo's default soft limit let an object wedged between the fingers
# force them centimetres past fully open and stay clamped there after the gripper opened.
LIMIT_SOLREF = "0.004 1"


def hand_xml(spec: GripperSpec = DEFAULT_GRIPPER) -> tuple[str, str]:
    """XML of the palm and the two fingers, to put inside a body whose frame is the gripper
    frame (fingertips at its origin, palm towards -z), and the XML of the finger coupling
    and the finger actuator 'finger_pos' (target: travel of each finger from open, m)."""
    half_open = spec.max_opening / 2
    t, w, d = spec.finger_thickness / 2, spec.finger_width / 2, spec.finger_depth / 2
    finger = (
        f'type="box" size="{t} {w} {d}" solref="0.005 1" friction="1.0 0.01 0.001" '
        'rgba="0.2 0.2 0.25 1" mass="0.05"'
    )
    palm_half = half_open + 2 * t
    bodies = f"""
  <geom name="palm" type="box" size="{palm_half} {w} 0.01" pos="0 0 {-2 * d - 0.01}"
        rgba="0.3 0.3 0.35 1" mass="0.4"/>
  <body name="finger_pos" pos="{half_open + t} 0 {-d}" gravcomp="1">
    <joint name="finger_pos" type="slide" axis="-1 0 0" range="0 {half_open}" damping="5"
           solreflimit="{LIMIT_SOLREF}"/>
    <geom name="finger_pos" {finger}/>
  </body>
  <body name="finger_neg" pos="{-half_open - t} 0 {-d}" gravcomp="1">
    <joint name="finger_neg" type="slide" axis="1 0 0" range="0 {half_open}" damping="5"
           solreflimit="{LIMIT_SOLREF}"/>
    <geom name="finger_neg" {finger}/>
  </body>"""
    sections = f"""
<equality><joint joint1="finger_pos" joint2="finger_neg"/></equality>
<actuator>
  <position name="finger_pos" joint="finger_pos" kp="800" ctrlrange="0 {half_open}"
            forcerange="{-GRIP_FORCE_N} {GRIP_FORCE_N}"/>
</actuator>"""
    return bodies, sections


def gripper_xml(spec: GripperSpec = DEFAULT_GRIPPER) -> tuple[str, str]:
    """Worldbody XML of the floating gripper and the XML of its weld and finger actuators."""
    hand, hand_sections = hand_xml(spec)
    bodies = f"""
<body name="gripper_target" mocap="true" pos="{PARK[0]} {PARK[1]} {PARK[2]}"/>
<body name="gripper" pos="{PARK[0]} {PARK[1]} {PARK[2]}" gravcomp="1">
  <freejoint name="gripper_free"/>{hand}
</body>"""
    sections = f"""
<equality><weld body1="gripper_target" body2="gripper" solref="0.01 1"/></equality>
{hand_sections}"""
    return bodies, sections


class FloatingGripper:
    """Drives the gripper of a TableScene built with gripper_xml()."""

    def __init__(self, scene: TableScene, spec: GripperSpec = DEFAULT_GRIPPER) -> None:
        self.scene, self.spec = scene, spec
        m = scene.model
        self._mocap = m.body_mocapid[
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "gripper_target")
        ]
        self._joint = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "gripper_free")
        self._finger_qpos = m.jnt_qposadr[
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "finger_pos")
        ]

    def place(self, position: np.ndarray, rotation: np.ndarray) -> None:
        """Put the gripper (and its target) at a pose at once, at rest (world frame, m)."""
        d = self.scene.data
        quat = quat_from_matrix(rotation)
        d.mocap_pos[self._mocap], d.mocap_quat[self._mocap] = position, quat
        self.scene.set_free_joint(self._joint, position, quat)

    def park(self) -> None:
        """Out of the camera's view and the objects' way."""
        self.open(self.spec.max_opening)
        self.place(PARK, np.eye(3))

    def open(self, width: float) -> None:
        """Command the gap between the fingers to ``width`` m (clipped to the gripper's)."""
        width = float(np.clip(width, 0.0, self.spec.max_opening))
        self.scene.data.ctrl[0] = (self.spec.max_opening - width) / 2
        q = self.scene.data.qpos
        q[self._finger_qpos] = q[self._finger_qpos + 1] = self.scene.data.ctrl[0]

    def close(self, seconds: float = 0.6) -> None:
        """Close with the force limit until the fingers stop on something."""
        self.scene.data.ctrl[0] = self.spec.max_opening / 2
        self.scene.step(seconds)

    def width(self) -> float:
        """Current gap between the fingers, m."""
        return self.spec.max_opening - 2 * float(self.scene.data.qpos[self._finger_qpos])

    def move_to(self, position: np.ndarray, rotation: np.ndarray) -> None:
        """Straight-line move of the target at SPEED_M_S, then a moment to settle."""
        d = self.scene.data
        start = d.mocap_pos[self._mocap].copy()
        d.mocap_quat[self._mocap] = quat_from_matrix(rotation)
        steps = max(1, int(np.linalg.norm(position - start) / SPEED_M_S / TIMESTEP))
        for alpha in np.linspace(0, 1, steps + 1)[1:]:
            d.mocap_pos[self._mocap] = start + alpha * (position - start)
            mujoco.mj_step(self.scene.model, d)
        self.scene.step(0.1)
