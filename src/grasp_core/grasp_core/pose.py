"""From an image grasp and aligned depth to a 6-DoF grasp pose in the camera frame.

After 002_a78fe279f064600a.txt (eq. 8-9): the gripper approaches along the camera's optical
axis; its centre is the grasp pixel back-projected at the measured depth and pushed d
further along the axis; its closing axis is the image angle turned into the optical frame.

Gripper frame (the stack's convention, also the simulated gripper's): origin between the
fingertips, x along the closing axis, z along the approach (from the palm towards the
fingertips), y = z cross x. Optical frame as in grasp_core.camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_core.grasp import ImageGrasp
from grasp_core.preprocess import InputError, valid_depth


@dataclass(frozen=True)
class GraspPose:
    """A 6-DoF parallel-jaw grasp. position: gripper origin, m; rotation: 3x3, columns the
    gripper's x (closing), y, z (approach) axes; both in the frame ``frame`` names.
    width: opening between the fingers, m. quality: 0..1."""

    position: np.ndarray
    rotation: np.ndarray
    width: float
    quality: float
    frame: str = "camera_optical"

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform, gripper frame -> ``frame``."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, self.position
        return out

    def transformed(self, transform: np.ndarray, frame: str) -> GraspPose:
        """This pose in another frame; transform: 4x4, self.frame -> ``frame``."""
        m = transform @ self.matrix()
        return GraspPose(m[:3, 3].copy(), m[:3, :3].copy(), self.width, self.quality, frame)


def patch_depth(depth_m: np.ndarray, u: float, v: float, radius_px: int) -> float:
    """Robust depth (m) at (u, v): the median of the valid pixels within radius_px.

    A median ignores the sensor's holes and flying pixels at object edges, where a single
    pixel's depth is least reliable. Raises InputError if the patch has no valid depth.
    """
    h, w = depth_m.shape
    iu, iv = round(u), round(v)
    if not (0 <= iu < w and 0 <= iv < h):
        raise InputError(f"grasp centre ({u:.1f}, {v:.1f}) px is outside the {w}x{h} depth image")
    patch = depth_m[
        max(0, iv - radius_px) : iv + radius_px + 1, max(0, iu - radius_px) : iu + radius_px + 1
    ]
    values = patch[valid_depth(patch)]
    if values.size == 0:
        raise InputError(f"no valid depth within {radius_px} px of ({u:.1f}, {v:.1f}) px")
    return float(np.median(values))


def grasp_pose_in_camera(
    grasp: ImageGrasp,
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    grasp_depth_m: float,
    patch_radius_px: int = 3,
) -> GraspPose:
    """The 6-DoF grasp (optical frame) of an image grasp on an aligned depth image in m.

    grasp_depth_m: how far past the measured surface the fingertips go (002's d).
    """
    surface = patch_depth(depth_m, grasp.u, grasp.v, patch_radius_px)
    # Eq. 8: the surface point under the grasp pixel, pushed d further along the optical axis.
    position = intrinsics.backproject(np.float64(grasp.u), np.float64(grasp.v), surface)
    position[2] += grasp_depth_m
    c, s = math.cos(grasp.angle), math.sin(grasp.angle)
    # Eq. 9: the closing axis (cos, -sin) of the image is the optical frame's (x, y).
    rotation = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    width = math.hypot(grasp.width * c / intrinsics.fx, grasp.width * s / intrinsics.fy) * surface
    return GraspPose(position, rotation, width, grasp.quality)
