"""A table with objects dropped on it, simulated in MuJoCo and rendered from a camera.

MuJoCo is the project's one simulator: it renders metric depth and segmentation straight
from its OpenGL renderer (EGL, no screen) several times faster than PyBullet's software
renderer, and its soft contacts with elliptic friction cones hold cylinders that slip out
of a gripper under the default pyramidal cones.

Frames: the world frame has z up and its origin at the centre of the table top; m, rad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_sim.objects import ObjectModel, Part

TABLE_HALF_SIZE = 0.4
# Where objects are dropped: a square of this half size (m) centred on the table.
DROP_HALF_SIZE = 0.12
TIMESTEP = 0.002
SETTLE_S = 1.5
# The contact settings that hold objects in a parallel gripper (see the module docstring).
CONTACT_OPTIONS = 'cone="elliptic" impratio="10"'
FRICTION = "1.0 0.01 0.002"


@dataclass(frozen=True)
class CameraPose:
    """The camera's optical frame in the world: position (m) and rotation matrix (3x3).

    Columns of ``rotation`` are the optical axes x (right), y (down), z (forward) in the
    world frame.
    """

    position: np.ndarray
    rotation: np.ndarray

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform, optical frame -> world."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, self.position
        return out


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> CameraPose:
    """Optical frame at ``eye`` (m, world) looking at ``target``, turned by ``roll`` rad."""
    z = target - eye
    z = z / np.linalg.norm(z)
    # Image 'up' (-y) towards world +z when looking sideways, towards +x when looking down.
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
    x = np.cross(z, -up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(roll), math.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    return CameraPose(np.asarray(eye, float), np.stack([x, y, z], axis=1))


def sample_camera_pose(rng: np.random.Generator) -> CameraPose:
    """A view of the drop area from overhead to 45 deg oblique, 0.5-0.75 m away."""
    elevation = math.radians(rng.uniform(45, 90))
    azimuth = rng.uniform(-math.pi, math.pi)
    distance = rng.uniform(0.5, 0.75)
    target = np.array([*rng.uniform(-0.03, 0.03, 2), 0.0])
    eye = target + distance * np.array(
        [
            math.cos(elevation) * math.cos(azimuth),
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
        ]
    )
    return look_at(eye, target, roll=rng.uniform(-math.pi, math.pi))


def _fmt(values) -> str:
    return " ".join(f"{float(x):.6g}" for x in np.ravel(values))


def _geom_xml(part: Part, name: str, rgba: np.ndarray) -> tuple[str, str]:
    """The geom of one part and, for meshes, its asset."""
    common = f'pos="{_fmt(part.pos)}" quat="{_fmt(part.quat)}" rgba="{_fmt(rgba)}"'
    if part.kind == "mesh":
        asset = f'<mesh name="{name}" vertex="{_fmt(part.vertices)}"/>'
        return f'<geom type="mesh" mesh="{name}" {common}/>', asset
    return f'<geom type="{part.kind}" size="{_fmt(part.size)}" {common}/>', ""


def scene_xml(
    objects: list[ObjectModel],
    poses: np.ndarray,
    colours: np.ndarray,
    table_rgba: np.ndarray,
    intrinsics: CameraIntrinsics,
    extra_bodies: str = "",
    extra_sections: str = "",
) -> str:
    """MJCF of the table, the objects (free bodies at poses: (K, 7) position m, quat w x y z)
    and one camera with the given intrinsics. extra_bodies: more worldbody XML (a gripper);
    extra_sections: more top-level XML (its actuators and constraints)."""
    assets, bodies = [], []
    for k, (obj, pose, rgba) in enumerate(zip(objects, poses, colours, strict=True)):
        geoms = []
        for j, part in enumerate(obj.parts):
            geom, asset = _geom_xml(part, f"obj{k}_part{j}", rgba)
            geoms.append(geom)
            assets.append(asset)
        bodies.append(
            f'<body name="obj{k}" pos="{_fmt(pose[:3])}" quat="{_fmt(pose[3:])}">'
            f"<freejoint/>{''.join(geoms)}</body>"
        )
    # MuJoCo takes the focal length in px and the principal point as an offset in px from the
    # image centre, with the opposite sign to OpenCV's (measured against projected spheres).
    offset = (
        (intrinsics.width - 1) / 2 - intrinsics.cx,
        (intrinsics.height - 1) / 2 - intrinsics.cy,
    )
    return f"""
<mujoco model="table">
  <compiler angle="radian"/>
  <option timestep="{TIMESTEP}" {CONTACT_OPTIONS}/>
  <visual><global offwidth="{intrinsics.width}" offheight="{intrinsics.height}"/>
    <quality shadowsize="2048"/><map znear="0.01" zfar="4"/>
    <headlight ambient="0.25 0.25 0.25" diffuse="0.3 0.3 0.3" specular="0 0 0"/></visual>
  <default><geom condim="6" friction="{FRICTION}" density="400"/></default>
  <asset>{"".join(assets)}</asset>
  <worldbody>
    <light pos="0.3 -0.2 1.5" dir="-0.2 0.1 -1" diffuse="0.45 0.45 0.45" castshadow="true"/>
    <light pos="-0.4 0.3 1.2" dir="0.3 -0.2 -1" diffuse="0.2 0.2 0.2" castshadow="false"/>
    <geom name="table" type="box" size="{TABLE_HALF_SIZE} {TABLE_HALF_SIZE} 0.02"
          pos="0 0 -0.02" rgba="{_fmt(table_rgba)}"/>
    <camera name="camera" pos="0 0 1" resolution="{intrinsics.width} {intrinsics.height}"
            focalpixel="{intrinsics.fx} {intrinsics.fy}" principalpixel="{_fmt(offset)}"
            sensorsize="{intrinsics.width * 1e-6:.6g} {intrinsics.height * 1e-6:.6g}"/>
    {"".join(bodies)}
    {extra_bodies}
  </worldbody>
  {extra_sections}
</mujoco>"""


@dataclass(frozen=True)
class Frame:
    """One rendered view. rgb: HxWx3 uint8. depth: HxW float32, m along the optical axis,
    noise-free. instance_mask: HxW int32, object index + 1 per pixel, 0 for table or
    nothing; None when not rendered. camera: where it was taken from; intrinsics: of the
    image."""

    rgb: np.ndarray
    depth: np.ndarray
    instance_mask: np.ndarray | None
    camera: CameraPose
    intrinsics: CameraIntrinsics


def quat_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """MuJoCo's (w, x, y, z) quaternion of a 3x3 rotation matrix."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=np.float64).ravel())
    return quat


# MuJoCo's camera looks along its -z with +y up; the optical frame looks along +z, y down.
_OPTICAL_TO_MUJOCO = np.diag([1.0, -1.0, -1.0])


class TableScene:
    """A MuJoCo table scene: objects dropped at random, settled, rendered on demand."""

    def __init__(
        self,
        objects: list[ObjectModel],
        rng: np.random.Generator,
        intrinsics: CameraIntrinsics,
        extra_bodies: str = "",
        extra_sections: str = "",
        edit: Callable[[mujoco.MjSpec], None] | None = None,
    ) -> None:
        """extra_bodies / extra_sections: see scene_xml. edit: called on the scene's MjSpec
        before it is compiled, to add what XML cannot easily say (an arm from its URDF)."""
        self.objects = objects
        self.intrinsics = intrinsics
        poses = np.zeros((len(objects), 7))
        poses[:, :2] = rng.uniform(-DROP_HALF_SIZE, DROP_HALF_SIZE, (len(objects), 2))
        # Staggered heights so objects land one after another instead of interpenetrating.
        poses[:, 2] = 0.08 + 0.06 * np.arange(len(objects))
        quats = rng.normal(size=(len(objects), 4))
        poses[:, 3:] = quats / np.linalg.norm(quats, axis=1, keepdims=True)
        colours = np.concatenate(
            [rng.uniform(0.1, 0.95, (len(objects), 3)), np.ones((len(objects), 1))], 1
        )
        table = np.array([*rng.uniform(0.45, 0.8, 3), 1.0])
        xml = scene_xml(objects, poses, colours, table, intrinsics, extra_bodies, extra_sections)
        spec = mujoco.MjSpec.from_string(xml)
        if edit is not None:
            edit(spec)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self._body_of_object = np.array(
            [
                mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, f"obj{k}")
                for k in range(len(objects))
            ]
        )
        # geom id -> object index + 1 (0: table, gripper or anything else).
        self._instance_of_geom = np.zeros(self.model.ngeom + 1, np.int32)
        for k, body in enumerate(self._body_of_object):
            self._instance_of_geom[:-1][self.model.geom_bodyid == body] = k + 1
        self._renderer: mujoco.Renderer | None = None
        self.camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "camera")

    def step(self, seconds: float) -> None:
        """Advance the physics by ``seconds`` of simulated time."""
        mujoco.mj_step(self.model, self.data, nstep=max(1, round(seconds / TIMESTEP)))

    def settle(self, seconds: float = SETTLE_S) -> None:
        """Let the dropped objects come to rest."""
        self.step(seconds)

    def object_positions(self) -> np.ndarray:
        """(K, 3) world positions (m) of the objects' body frames."""
        return self.data.xpos[self._body_of_object].copy()

    def on_table(self) -> np.ndarray:
        """(K,) bool: the object lies on the table top (not fallen off or lifted away)."""
        pos = self.object_positions()
        return (
            (np.abs(pos[:, :2]).max(1) < TABLE_HALF_SIZE) & (pos[:, 2] > -0.01) & (pos[:, 2] < 0.25)
        )

    def set_free_joint(self, joint: int, position: np.ndarray, quat: np.ndarray) -> None:
        """Put the body of free joint ``joint`` at ``position`` (m, world) with orientation
        ``quat`` (w x y z), at rest."""
        qpos, qvel = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        self.data.qpos[qpos : qpos + 3] = position
        self.data.qpos[qpos + 3 : qpos + 7] = quat
        self.data.qvel[qvel : qvel + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_pose(self, index: int, position: np.ndarray, quat: np.ndarray) -> None:
        """Put object ``index`` at ``position`` (m, world) with orientation ``quat`` (w x y z),
        at rest."""
        self.set_free_joint(self.model.body_jntadr[self._body_of_object[index]], position, quat)

    def remove(self, index: int) -> None:
        """Take object ``index`` off the table (parked far below it, physics frozen)."""
        # Gravity compensated, so it floats where it is parked.
        self.model.body_gravcomp[self._body_of_object[index]] = 1.0
        self.set_pose(index, np.array([10.0 + index, 0.0, -5.0]), np.array([1.0, 0.0, 0.0, 0.0]))

    def render(self, camera: CameraPose, instances: bool = True) -> Frame:
        """RGB, depth and (unless ``instances`` is False, which saves a third of the cost)
        the instance mask seen from ``camera``."""
        self.model.cam_pos[self.camera_id] = camera.position
        self.model.cam_quat[self.camera_id] = quat_from_matrix(camera.rotation @ _OPTICAL_TO_MUJOCO)
        mujoco.mj_forward(self.model, self.data)
        if self._renderer is None:
            self._renderer = mujoco.Renderer(
                self.model, self.intrinsics.height, self.intrinsics.width
            )
        r = self._renderer
        r.update_scene(self.data, camera=self.camera_id)
        rgb = r.render().copy()
        r.enable_depth_rendering()
        depth = r.render().astype(np.float32)
        r.disable_depth_rendering()
        if not instances:
            return Frame(rgb, depth, None, camera, self.intrinsics)
        r.enable_segmentation_rendering()
        seg = r.render()
        r.disable_segmentation_rendering()
        geom = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)
        return Frame(rgb, depth, self._instance_of_geom[geom], camera, self.intrinsics)

    def close(self) -> None:
        """Free the renderer's OpenGL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
