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
there is in the finger's way when it lies inside the column more than TIP_TOLERANCE_M above
the fingertips. Seen points, not sampled ones, decide, so an object standing in front of
the column (between it and the camera) does not count. Holes in the depth count as free,
and so do samples outside the image: counting those as in the way cleared fewer objects
on the simulated tables (UR5 88.9 against 91.9 %, WidowX 78.8 against 81.8 %;
docs/table_clean.md).
A grasp is blocked when such points cover a finger's whole footprint: a finger that lands
on part of something (a mug's handle, the rounded side of a lying cylinder, a neighbour's
edge) pushes it aside or slides off it and still closes on the object. Stricter settings
(a third of the footprint, 6 mm above the tips) raised the success per attempt of the
simulated table clean as much but left many more objects on the table (docs/table_clean.md).

Frames: grasp poses in the base frame (grasp_core.pose), depth in the camera's optical
frame; base_from_optical maps the latter to the former. Lengths in m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_core.gripper import GripperSpec
from grasp_core.preprocess import valid_depth

# The surface under the fingertips is at their height (grasps are raised to the table), and
# something a finger meets only this little above its tips, it slides off or pushes aside.
TIP_TOLERANCE_M = 0.02
# Above this height over the fingertips nothing on a table reaches into a finger's way;
# the pre-grasp starts higher, but only the arm's own links are up there.
SWEEP_HEIGHT_M = 0.15
# The footprint grid a finger's blocked share is counted on: across the thickness, along
# the width (about 5 mm cells on the default gripper). Each cell's column is sampled at its
# middle, at HEIGHT_SAMPLES heights from the tip to SWEEP_HEIGHT_M.
FOOTPRINT_CELLS = (2, 4)
HEIGHT_SAMPLES = 10
# The share of a finger's footprint that must be in the way for the grasp to be blocked.
BLOCKED_SHARE = 1.0
# A blocked grasp is tried turned about its approach axis in steps of this, both ways.
TURN_STEP_RAD = 0.26  # about 15 degrees

# The samples of one column in units of its size: across the thickness (0 at the inner
# face), along the width (0 at one edge), up the height (0 at the tip), each 0..1.
_UNIT = np.stack(
    [
        g.ravel()
        for g in np.meshgrid(
            (np.arange(FOOTPRINT_CELLS[0]) + 0.5) / FOOTPRINT_CELLS[0],
            (np.arange(FOOTPRINT_CELLS[1]) + 0.5) / FOOTPRINT_CELLS[1],
            np.linspace(0.0, 1.0, HEIGHT_SAMPLES),
            indexing="ij",
        )
    ],
    axis=-1,
)
_SIDES = np.array([1.0, -1.0])  # the finger on +x and the one on -x of the gripper frame


@dataclass(frozen=True, eq=False)
class SeenDepth:
    """What the camera saw, as the finger check reads it.

    depth: the aligned depth image (HxW; m, or sensor units times depth_scale_m m; 0 or
    NaN where nothing was measured). intrinsics: its camera. base_from_optical: 4x4, the
    camera's optical frame -> the base frame, m.
    """

    depth: np.ndarray
    intrinsics: CameraIntrinsics
    base_from_optical: np.ndarray
    depth_scale_m: float = 1.0


def finger_columns(openings: np.ndarray, gripper: GripperSpec) -> np.ndarray:
    """(N, 2, S, 3) sample points (gripper frame, m) of both fingers' swept columns, for N
    openings (m, the gap between the fingers' inner faces): x across the closing axis from
    the inner face outward, y across the finger, z from the fingertips (0) up towards the
    palm (negative: the approach axis points from the palm to the tips)."""
    size = np.array([gripper.finger_thickness, gripper.finger_width, -SWEEP_HEIGHT_M])
    local = _UNIT * size - [0.0, gripper.finger_width / 2, 0.0]  # (S, 3), x from the face
    points = np.broadcast_to(local, (len(openings), 2, *local.shape)).copy()
    points[..., 0] = _SIDES[:, None] * (np.asarray(openings)[:, None, None] / 2 + local[:, 0])
    return points


def blocked_share(
    positions: np.ndarray,
    rotations: np.ndarray,
    openings: np.ndarray,
    seen: SeenDepth,
    gripper: GripperSpec,
) -> np.ndarray:
    """(N,) for each grasp, the largest share (0..1) of a finger's footprint with a seen
    surface in its way: the footprint is a grid of FOOTPRINT_CELLS, and a cell counts when a
    seen point in the finger's column lies over it.

    positions (N, 3) and rotations (N, 3, 3): the grasps in the base frame (origin between
    the fingertips; columns x closing, y, z approach), m. openings (N,): the gap the fingers
    come down with, m. A grasp is blocked from BLOCKED_SHARE on.
    """
    n = len(openings)
    if n == 0:
        return np.zeros(0)
    depth, intrinsics = seen.depth, seen.intrinsics
    # The grasps in the optical frame, so that samples and seen points need one transform.
    to_base = seen.base_from_optical[:3, :3]
    rot = to_base.T @ rotations  # (N, 3, 3): gripper -> optical
    origin = (positions - seen.base_from_optical[:3, 3]) @ to_base  # (N, 3), optical
    local = finger_columns(openings, gripper)  # (N, 2, S, 3)
    sampled = local @ rot[:, None].transpose(0, 1, 3, 2) + origin[:, None, None, :]
    z = sampled[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = np.moveaxis(np.rint(intrinsics.project(sampled)), -1, 0)
    h, w = depth.shape
    measured = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    iu, iv = np.where(measured, u, 0).astype(np.intp), np.where(measured, v, 0).astype(np.intp)
    raw = depth[iv, iu]
    measured &= valid_depth(raw)
    points = intrinsics.backproject(iu, iv, raw.astype(np.float64) * seen.depth_scale_m)
    # The seen points in each grasp's gripper frame, where each finger's column is a box.
    rel = (points - origin[:, None, None, :]) @ rot[:, None]
    across = (
        _SIDES[:, None] * rel[..., 0] - openings[:, None, None] / 2
    ) / gripper.finger_thickness
    along = rel[..., 1] / gripper.finger_width + 0.5
    up = rel[..., 2]
    in_way = (
        measured
        & (across >= 0) & (across <= 1) & (along >= 0) & (along <= 1)
        & (up <= -TIP_TOLERANCE_M) & (up >= -SWEEP_HEIGHT_M)
    )  # fmt: skip
    rows, cols = FOOTPRINT_CELLS
    grasp, finger, sample = np.nonzero(in_way)
    row = np.minimum(across[grasp, finger, sample] * rows, rows - 1).astype(np.intp)
    col = np.minimum(along[grasp, finger, sample] * cols, cols - 1).astype(np.intp)
    covered = np.zeros((n, 2, rows * cols), bool)
    covered[grasp, finger, row * cols + col] = True
    return covered.mean(axis=-1).max(axis=-1)


def turn_about_approach(rotations: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N, T, 3, 3): each of N grasp rotations (base frame, columns x closing, y, z
    approach) turned by each of T angles (rad) about its own approach axis."""
    c, s = np.cos(angles), np.sin(angles)
    turn = np.zeros((len(angles), 3, 3))
    turn[:, 0, 0], turn[:, 0, 1], turn[:, 1, 0], turn[:, 1, 1] = c, -s, s, c
    turn[:, 2, 2] = 1.0
    return np.asarray(rotations)[:, None] @ turn[None]


def turned_free(
    positions: np.ndarray,
    rotations: np.ndarray,
    openings: np.ndarray,
    seen: SeenDepth,
    gripper: GripperSpec,
    max_turn_rad: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For N blocked grasps (arguments as for blocked_share), the rotation turned about the
    approach axis by the least of +-TURN_STEP_RAD, +-2 TURN_STEP_RAD, ... up to max_turn_rad
    whose fingers are not blocked: (N, 3, 3) rotations (the given one where no turn frees
    it) and (N,) whether a turn did.

    A finger that comes down on a neighbour's edge often clears it a little further round,
    and the object between the fingers is still grasped across, if less squarely: on the
    simulated table clean this cleared one more object in 20 tables of each arm
    (docs/table_clean.md).
    """
    steps = np.arange(1, int(max_turn_rad / TURN_STEP_RAD + 1e-9) + 1) * TURN_STEP_RAD
    angles = np.stack([steps, -steps], axis=1).ravel()  # +15, -15, +30, -30 degrees, ...
    n, t = len(openings), len(angles)
    if n == 0 or t == 0:
        return np.asarray(rotations).copy(), np.zeros(n, bool)
    turned = turn_about_approach(rotations, angles)  # (N, T, 3, 3)
    share = blocked_share(
        np.repeat(positions, t, axis=0), turned.reshape(-1, 3, 3), np.repeat(openings, t),
        seen, gripper,
    ).reshape(n, t)  # fmt: skip
    free = share < BLOCKED_SHARE
    freed = free.any(axis=1)
    first = np.argmax(free, axis=1)  # the least turn that frees it
    out = np.asarray(rotations).copy()
    out[freed] = turned[np.flatnonzero(freed), first[freed]]
    return out, freed
