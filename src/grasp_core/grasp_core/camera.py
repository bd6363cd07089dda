"""Pinhole camera intrinsics and the pixel <-> camera-frame maps built on them.

Frames: the camera's optical frame (REP 103 ``*_optical_frame``): x right, y down, z forward
along the optical axis, in m. Pixels: (u, v) as in grasp_core.grasp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an undistorted image (sensor_msgs/CameraInfo's K).

    fx, fy: focal lengths, px. cx, cy: principal point, px. width, height: image size, px.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def matrix(self) -> np.ndarray:
        """3x3 camera matrix K."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)

    def backproject(self, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(..., 3) points in the optical frame, m, seen at pixels (u, v) at depth z (m)."""
        z = np.asarray(z, np.float64)
        return np.stack([(u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z], axis=-1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) pixels (u, v) of (..., 3) optical-frame points in m (z > 0)."""
        z = points[..., 2]
        return np.stack(
            [self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy],
            axis=-1,
        )

    def point_cloud(self, depth_m: np.ndarray) -> np.ndarray:
        """HxWx3 optical-frame points, m, of an HxW depth image in m (NaN where depth is)."""
        v, u = np.mgrid[0 : depth_m.shape[0], 0 : depth_m.shape[1]]
        return self.backproject(u, v, depth_m)


# RealSense D435 colour stream at 640x480 (typical factory calibration; the depth stream is
# aligned to it, so these are also the aligned depth's intrinsics).
D435_COLOR_640X480 = CameraIntrinsics(fx=615.4, fy=615.7, cx=320.6, cy=240.2, width=640, height=480)
