"""Gripper-shaped line drawings of grasps (for RViz markers) and quality colours.

A grasp is drawn in its own frame (grasp_core.pose: origin between the fingertips, x closing,
z approach) as four segments: two fingers at x = +-width/2 reaching from the palm (z =
-finger_depth) to the fingertips (z = 0), the palm joining them, and a stem of the same
length behind the palm's middle, pointing back along -z so the approach reads at a glance.
"""

from __future__ import annotations

import numpy as np

from grasp_core.gripper import DEFAULT_GRIPPER, GripperSpec
from grasp_core.pose import GraspPoses

SEGMENTS_PER_GRASP = 4


def gripper_segments(poses: GraspPoses, gripper: GripperSpec = DEFAULT_GRIPPER) -> np.ndarray:
    """(N, 4, 2, 3) segment end points, m, in poses.frame: left finger, right finger, palm,
    stem (see the module docstring), each as (start, end)."""
    half = poses.widths / 2
    depth = gripper.finger_depth
    zero = np.zeros_like(half)
    palm = np.full_like(half, -depth)

    def point(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.stack([x, zero, z], axis=-1)

    local = np.stack(
        [
            np.stack([point(-half, palm), point(-half, zero)], axis=1),
            np.stack([point(half, palm), point(half, zero)], axis=1),
            np.stack([point(-half, palm), point(half, palm)], axis=1),
            np.stack([point(zero, palm), point(zero, palm - depth)], axis=1),
        ],
        axis=1,
    )  # (N, 4, 2, 3) in the grasp frame
    return np.einsum("nij,nsej->nsei", poses.rotations, local) + poses.positions[:, None, None]


def quality_colours(qualities: np.ndarray) -> np.ndarray:
    """(N, 4) RGBA in 0..1 of qualities 0..1: red at 0 through yellow at 0.5 to green at 1."""
    q = np.clip(np.asarray(qualities, np.float64), 0.0, 1.0)
    red = np.clip(2.0 * (1.0 - q), 0.0, 1.0)
    green = np.clip(2.0 * q, 0.0, 1.0)
    return np.stack([red, green, np.zeros_like(q), np.ones_like(q)], axis=-1)
