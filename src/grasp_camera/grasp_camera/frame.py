"""What every camera source delivers, ROS-free: one aligned colour + depth frame.

Frames: the colour camera's optical frame (x right, y down, z forward); the depth image is
aligned to the colour image pixel for pixel, so the colour intrinsics hold for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grasp_core.camera import CameraIntrinsics


class CameraError(RuntimeError):
    """The source cannot deliver a frame now; the message says why and what to do."""


def depth_mm(depth_m: np.ndarray) -> np.ndarray:
    """16UC1 depth in mm of a float depth image in m; missing (NaN, <= 0) becomes 0."""
    mm = np.nan_to_num(depth_m * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(mm), 0, np.iinfo(np.uint16).max).astype(np.uint16)


@dataclass(frozen=True)
class CameraFrame:
    """One frame. rgb: HxWx3 uint8, RGB order. depth_mm: HxW uint16, mm along the optical
    axis, aligned to rgb, 0 = no measurement. intrinsics: of the colour image (and so of the
    aligned depth), px. stamp_s: capture time, s since the Unix epoch."""

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: CameraIntrinsics
    stamp_s: float

    def __post_init__(self) -> None:
        size = (self.intrinsics.height, self.intrinsics.width)
        if self.rgb.dtype != np.uint8 or self.rgb.shape != (*size, 3):
            raise CameraError(
                f"colour image is {self.rgb.dtype} {self.rgb.shape}, expected uint8 "
                f"{(*size, 3)} for intrinsics of {size[1]}x{size[0]}"
            )
        if self.depth_mm.dtype != np.uint16 or self.depth_mm.shape != size:
            raise CameraError(
                f"depth image is {self.depth_mm.dtype} {self.depth_mm.shape}, expected uint16 "
                f"{size}: depth must be aligned to the colour image"
            )


class CameraSource(Protocol):
    """A camera. open() acquires it (again after close(); a no-op while open); read() opens
    it when needed and returns the next frame or raises CameraError; close() releases it."""

    def open(self) -> None: ...

    def read(self) -> CameraFrame: ...

    def close(self) -> None: ...
