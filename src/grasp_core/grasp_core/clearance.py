"""Whether a grasp's fingers have a free way down, checked on the live depth image.

A model proposes grasps from what it learnt on other objects; on a new scene one of its
grasps can put a finger on a neighbour, or on the object itself where the object is wider
than the gripper opens (a box as wide as the full opening ends up wedged between the
fingers). 002's labeller rejects such grasps with its collision test on rendered depth;
this is the same test on the camera's depth at run time, for the grasps a model proposes.

Each finger, at the opening it comes down with, sweeps a column along the approach: its
footprint (finger_thickness along the closing axis, outside the opening; finger_width
across it) from the fingertips up to SWEEP_HEIGHT_M above them. Points of that column are
sampled, each sample's pixel is read from the depth image, and the surface point seen
there counts against the grasp when it lies inside the column more than
TIP_TOLERANCE_M above the fingertips: something the finger would strike on its way
down. Seen points, not sampled ones, decide, so an object standing in front of the column
(between it and the camera) does not count. Holes in the depth count as free.

Frames: grasp poses in the base frame (grasp_core.pose), depth in the camera's optical
frame; base_from_optical maps the latter to the former. Lengths in m.
"""

from __future__ import annotations

import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_core.gripper import GripperSpec
from grasp_core.preprocess import valid_depth

# The surface under the fingertips is at their height (grasps are raised to the table), and
# a depth camera measures it to a few mm at table distance: points this close to the tip
# plane are the surface the fingers stop on, not an obstacle.
TIP_TOLERANCE_M = 0.02
# Above this height over the fingertips nothing on a table reaches into a finger's way;
# the pre-grasp starts higher, but only the arm's own links are up there.
SWEEP_HEIGHT_M = 0.15
# Samples per finger column: across the thickness, along the finger's width, up the height.
SAMPLES = (4, 8, 10)
# The footprint grid a finger's blocked share is counted on: across the thickness, along
# the width (about 5 mm cells on the default gripper).
FOOTPRINT_CELLS = (2, 4)
# A finger that only grazes something (a mug's handle, the rounded edge of a neighbour)
# pushes it aside and still goes down; one that lands with this share of its footprint on
# something does not.
BLOCKED_SHARE = 1.0


def finger_columns(opening: np.ndarray, gripper: GripperSpec) -> np.ndarray:
    """(N, 2, S, 3) sample points (gripper frame, m) of both fingers' swept columns, for N
    openings (m, the gap between the fingers' inner faces): x across the closing axis from
    the inner face outward, y across the finger, z from the fingertips (0) up towards the
    palm (negative: the approach axis points from the palm to the tips)."""
    across, along, up = (np.linspace(0.0, 1.0, n) for n in SAMPLES)
    a, b, c = (g.ravel() for g in np.meshgrid(across, along, up, indexing="ij"))
    offset_x = a * gripper.finger_thickness
    y = (b - 0.5) * gripper.finger_width
    z = -c * SWEEP_HEIGHT_M
    half = np.asarray(opening, np.float64)[:, None, None] / 2
    side = np.array([1.0, -1.0])[None, :, None]
    x = side * (half + offset_x)
    shape = x.shape
    return np.stack([x, np.broadcast_to(y, shape), np.broadcast_to(z, shape)], axis=-1)


def blocked_share(
    positions: np.ndarray,
    rotations: np.ndarray,
    openings: np.ndarray,
    depth: np.ndarray,
    intrinsics: CameraIntrinsics,
    base_from_optical: np.ndarray,
    gripper: GripperSpec,
    depth_scale_m: float = 1.0,
) -> np.ndarray:
    """(N,) for each grasp, the largest share (0..1) of a finger's footprint with a seen
    surface in its way: the footprint is a grid of FOOTPRINT_CELLS, and a cell counts when a
    seen point in the finger's column lies over it.

    positions (N, 3) and rotations (N, 3, 3): the grasps in the base frame (origin between
    the fingertips; columns x closing, y, z approach), m. openings (N,): the gap the fingers
    come down with, m. depth: the aligned depth image (m, or sensor units times
    depth_scale_m m). A grasp is blocked from BLOCKED_SHARE on.
    """
    n = len(openings)
    if n == 0:
        return np.zeros(0)
    local = finger_columns(openings, gripper)  # (N, 2, S, 3)
    base = positions[:, None, None, :] + local @ rotations[:, None].transpose(0, 1, 3, 2)
    optical_from_base = np.linalg.inv(base_from_optical)
    sampled = base @ optical_from_base[:3, :3].T + optical_from_base[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = intrinsics.project(sampled)
    u, v = np.rint(pixels[..., 0]), np.rint(pixels[..., 1])
    h, w = depth.shape
    seen = (sampled[..., 2] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    iu, iv = np.where(seen, u, 0).astype(np.int64), np.where(seen, v, 0).astype(np.int64)
    raw = depth[iv, iu]
    seen &= valid_depth(raw)
    points = intrinsics.backproject(iu, iv, raw.astype(np.float64) * depth_scale_m)
    points = points @ base_from_optical[:3, :3].T + base_from_optical[:3, 3]
    # The seen points in each grasp's gripper frame, where each finger's column is a box.
    rel = (points - positions[:, None, None, :]) @ rotations[:, None]
    inner = openings[:, None, None] / 2
    side = np.array([1.0, -1.0])[None, :, None]
    across = (side * rel[..., 0] - inner) / gripper.finger_thickness  # 0..1 over the finger
    along = rel[..., 1] / gripper.finger_width + 0.5  # 0..1 across it
    in_way = (
        seen
        & (across >= 0) & (across <= 1) & (along >= 0) & (along <= 1)
        & (rel[..., 2] <= -TIP_TOLERANCE_M) & (rel[..., 2] >= -SWEEP_HEIGHT_M)
    )  # fmt: skip
    rows, cols = FOOTPRINT_CELLS
    grasp, finger, sample = np.nonzero(in_way)
    row = np.minimum(across[grasp, finger, sample] * rows, rows - 1).astype(np.int64)
    col = np.minimum(along[grasp, finger, sample] * cols, cols - 1).astype(np.int64)
    covered = np.zeros((n, 2, rows * cols), bool)
    covered[grasp, finger, row * cols + col] = True
    return covered.mean(axis=-1).max(axis=-1)
