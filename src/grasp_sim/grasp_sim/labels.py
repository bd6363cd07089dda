"""Dense grasp labels from a rendered scene, after 002_a78fe279f064600a.txt (sec. III-D).

The scene is re-imaged with parallel projection along the camera's optical axis (the
"parallel depth image": camera-frame x, y on a regular grid of ``cell`` m, value = z, the
nearest surface), which keeps the gaps between objects that perspective hides. For object
pixels on a grid and K grasp angles, a parallel-jaw gripper approaching along the optical
axis (002 eq. 8-9) is checked on that image:

- grasp depth: the fingertips go down to the surface depth plus d, the deepest d of a grid
  up to the finger depth that passes every check;
- opening: the object's extent across the closing axis at fingertip depth, plus tolerance,
  within the gripper's opening; the span must hold only the target object (no pinching a
  neighbour) and the centre moves to the span's middle;
- collision: the fingers' columns beside the span are free down to the fingertips, and
  nothing in the gripper's footprint reaches up to the palm;
- flatness: the two contact faces (where each finger meets the object, sampled across the
  finger and over the grasp depth) are planes within a tolerance (002 eq. 14);
- force closure: both faces' normals lie within the friction cone about the closing axis,
  half-angle arctan(mu), mu = 0.2.

Everything is vectorised over candidates x angles x samples with numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_core.grasp import ImageGrasp
from grasp_core.gripper import DEFAULT_GRIPPER, GripperSpec


@dataclass(frozen=True)
class LabelParams:
    """angles: K, grasp angles k*pi/K (002: 18). stride: candidate grid step, px.
    cell: parallel depth image resolution, m. depth_levels: how many grasp depths are tried
    between min_depth and the finger depth (m). jaw_lines, face_levels: contact-face
    samples across the finger and over the grasp depth. flatness_m: largest RMS deviation
    of a contact face from its plane, m. mu: friction coefficient of the force-closure test.
    chunk: candidates processed at once (bounds memory)."""

    angles: int = 18
    stride: int = 4
    cell: float = 0.0015
    depth_levels: int = 5
    min_depth: float = 0.008
    jaw_lines: int = 5
    face_levels: int = 3
    flatness_m: float = 0.0015
    mu: float = 0.2
    chunk: int = 256


@dataclass(frozen=True)
class ParallelDepth:
    """The parallel depth image: z (m) of the nearest surface per cell, +inf where nothing
    is known to be, and the instance id seen there. Cell (r, c) covers camera-frame
    x = x0 + c * cell, y = y0 + r * cell (m)."""

    z: np.ndarray
    instance: np.ndarray
    x0: float
    y0: float
    cell: float

    def lookup(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z (m) and instance id at camera-frame (x, y) m; outside the grid: +inf and 0."""
        # The grid's outermost cells are empty (parallel_depth), so a lookup outside it is
        # clipped onto them: one gather per array instead of masking each one (a third of
        # the labelling time went here).
        h, w = self.z.shape
        c = np.rint((x - self.x0) / self.cell).astype(np.int64).clip(0, w - 1)
        r = np.rint((y - self.y0) / self.cell).astype(np.int64).clip(0, h - 1)
        flat = r * w + c
        return self.z.ravel().take(flat), self.instance.ravel().take(flat)


def parallel_depth(
    points: np.ndarray, instance: np.ndarray, cell: float, margin: float
) -> ParallelDepth:
    """Splat (N, 3) optical-frame points (m) with their instance ids onto a grid of ``cell``
    m, nearest surface winning; ``margin`` m of empty border around them, and one empty
    cell more."""
    x0, y0 = points[:, 0].min() - margin, points[:, 1].min() - margin
    c = np.rint((points[:, 0] - x0) / cell).astype(np.int64)
    r = np.rint((points[:, 1] - y0) / cell).astype(np.int64)
    h, w = r.max() + 1 + int(margin / cell), c.max() + 1 + int(margin / cell)
    z = np.full((h, w), np.inf, np.float32)
    # Farthest first, so the nearest point of each cell is written last and wins.
    order = np.argsort(-points[:, 2])
    z[r[order], c[order]] = points[order, 2]
    ids = np.zeros((h, w), np.uint16)
    ids[r[order], c[order]] = instance[order]
    # Cells between the camera's rays (points land about one cell apart) take their
    # farthest neighbour's surface. Farthest, not nearest: the cells beside an object's
    # top edge that the camera cannot see (its shadow on the table) must not grow the
    # object, which would widen every grasp on it. Two passes close the ray gaps.
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(2):
        hole = np.isinf(z)
        farthest = cv2.dilate(np.where(hole, 0.0, z).astype(np.float32), kernel)
        fill = hole & (farthest > 0)
        z = np.where(fill, farthest, z)
        ids = np.where(fill, cv2.dilate(ids, kernel), ids)
    # A border of empty cells, onto which ParallelDepth.lookup clips what lies outside.
    z, ids = np.pad(z, 1, constant_values=np.inf), np.pad(ids, 1)
    return ParallelDepth(z, ids, float(x0 - cell), float(y0 - cell), cell)


def _first_free(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True along the last axis and whether there is one."""
    return free.argmax(-1), free.any(-1)


def _edge(z: np.ndarray, z_tip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-cell position (cells from the centre, outward) where a profile starting on the
    object first rises past z_tip (m), and whether it does within the profile.
    z: (..., J) profile from the centre outward; z_tip broadcast against z[..., 0]."""
    free = z >= z_tip[..., None]
    j, found = _first_free(free)
    j = np.maximum(j, 1)
    before = np.take_along_axis(z, (j - 1)[..., None], -1)[..., 0]
    after = np.take_along_axis(z, j[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):  # inf - inf past the grid's edge; masked below
        step = np.where(np.isfinite(after), after - before, 1.0)
    frac = np.clip((z_tip - before) / np.where(step > 1e-9, step, 1.0), 0.0, 1.0)
    return j - 1 + frac, found


def _plane_fit(design_pinv: np.ndarray, design: np.ndarray, values: np.ndarray):
    """Least-squares plane through (..., S) samples: coefficients and RMS residual."""
    coef = values @ design_pinv.T
    residual = values - coef @ design.T
    return coef, np.sqrt((residual**2).mean(-1))


def label_grasps(
    depth: np.ndarray,
    instance_mask: np.ndarray,
    intrinsics: CameraIntrinsics,
    labels: dict[int, str],
    gripper: GripperSpec = DEFAULT_GRIPPER,
    params: LabelParams = LabelParams(),
) -> list[ImageGrasp]:
    """Grasp rectangles (px of the image) that pass every check, from a perfect HxW depth
    image (m) and its instance mask (0 = no object); labels: class label per instance id."""
    valid = np.isfinite(depth) & (depth > 0)
    cloud = intrinsics.point_cloud(np.where(valid, depth, 0.0))
    # A centre near one side of an object leaves up to the whole opening on the other side.
    span = gripper.max_opening + gripper.width_tolerance + gripper.finger_thickness
    pdi = parallel_depth(cloud[valid], instance_mask[valid], params.cell, margin=span)

    grid = np.zeros_like(valid)
    grid[:: params.stride, :: params.stride] = True
    vs, us = np.nonzero(grid & valid & (instance_mask > 0))
    grasps: list[ImageGrasp] = []
    for start in range(0, len(us), params.chunk):
        u, v = us[start : start + params.chunk], vs[start : start + params.chunk]
        grasps += _label_chunk(
            u, v, cloud[v, u], instance_mask[v, u], pdi, intrinsics, labels, gripper, params, span
        )
    return grasps


def _label_chunk(
    u: np.ndarray,
    v: np.ndarray,
    points: np.ndarray,
    ids: np.ndarray,
    pdi: ParallelDepth,
    intrinsics: CameraIntrinsics,
    labels: dict[int, str],
    gripper: GripperSpec,
    params: LabelParams,
    span: float,
) -> list[ImageGrasp]:
    """The grasps of P candidate pixels (u, v px; points: (P, 3) optical frame, m; ids:
    their instance ids) over all angles; span: how far (m) profiles reach from the centre."""
    cell = params.cell
    n_side = math.ceil(span / cell)
    s = np.arange(n_side + 1) * cell  # outward from the centre, m
    t = np.linspace(-gripper.finger_width / 2, gripper.finger_width / 2, params.jaw_lines)
    theta = np.arange(params.angles) * math.pi / params.angles
    # Closing axis d = (cos, -sin) and jaw direction n = (sin, cos) in camera x, y (the
    # optical frame's x, y run along the image's u, v, so angles match the image's).
    d = np.stack([np.cos(theta), -np.sin(theta)], -1)
    nrm = np.stack([np.sin(theta), np.cos(theta)], -1)
    # Profiles: (P, K, side, line, J) samples outward from the centre on both sides.
    sign = np.array([1.0, -1.0])
    offs = (
        sign[None, :, None, None, None] * s[None, None, None, :, None] * d[:, None, None, None, :]
        + t[None, None, :, None, None] * nrm[:, None, None, None, :]
    )  # (K, side, line, J, 2)
    xy = points[:, None, None, None, None, :2] + offs[None]
    z, inst = pdi.lookup(xy[..., 0], xy[..., 1])  # (P, K, side, line, J)

    depths = np.linspace(params.min_depth, gripper.finger_depth, params.depth_levels)
    tol_cells = round(gripper.width_tolerance / cell)
    thick_cells = math.ceil(gripper.finger_thickness / cell)
    face_lines = slice(params.jaw_lines // 4, params.jaw_lines - params.jaw_lines // 4)
    tl = np.repeat(t[face_lines], params.face_levels)
    hl = np.tile(np.linspace(0.1, 0.9, params.face_levels), len(t[face_lines]))
    design = np.stack([np.ones_like(tl), tl, hl], -1)  # edge = a + b t + c' h
    design_pinv = np.linalg.pinv(design)

    best = np.full(z.shape[:2], -1.0)  # grasp depth chosen per (P, K), -1: none
    best_width = np.zeros(z.shape[:2])
    best_shift = np.zeros(z.shape[:2])
    # Nearest surface across the finger's width, of anything and of other objects: a
    # profile cell is occupied below a height when its nearest surface is below it, so
    # these minima answer every depth's occupancy tests without the lines axis.
    z_near = z.min(3)  # (P, K, side, J)
    z_other = np.where(inst != ids[:, None, None, None, None], z, np.inf).min(3)
    j = np.arange(n_side + 1)
    for depth in depths:
        z_tip = (points[:, 2] + depth)[:, None, None, None]  # (P, 1, 1, 1)
        occupied = z_near < z_tip  # (P, K, side, J)
        j_free, found = _first_free(~occupied)
        run_end = np.where(found, j_free, n_side + 1)  # first free cell per side
        gap = (run_end.sum(-1) - 1) * cell  # (P, K) object extent across the axis, m
        opening = gap + gripper.width_tolerance
        ok = found.all(-1) & (opening <= gripper.max_opening)
        # Finger columns beside the span: free over the finger's thickness.
        finger = (j >= run_end[..., None] + tol_cells) & (
            j < run_end[..., None] + tol_cells + thick_cells
        )
        ok &= ~(occupied & finger).any((-1, -2))
        # Only the target object inside the span; nothing above the palm in the footprint.
        in_span = j < run_end[..., None]
        ok &= ~((z_other < z_tip) & in_span).any((-1, -2))
        footprint = j < run_end[..., None] + tol_cells + thick_cells
        ok &= ~((z_near < z_tip - gripper.finger_depth) & footprint).any((-1, -2))
        # Contact faces, for the candidates still standing (a few in a hundred): edge
        # positions across the finger's middle half (a rod thinner than the finger still
        # gives a face there) and over the grasp depth.
        p_ok, k_ok = np.nonzero(ok)
        levels = points[p_ok, 2][:, None] + depth * np.linspace(0.1, 0.9, params.face_levels)
        edges, edge_found = _edge(
            z[p_ok, k_ok][:, :, face_lines, None, :], levels[:, None, None, :]
        )  # (n, side, face line, level)
        faces = edges.reshape(len(p_ok), 2, len(design)) * cell  # (n, side, samples)
        coef, rms = _plane_fit(design_pinv, design, faces)
        slope = np.hypot(coef[..., 1], coef[..., 2] / depth)  # tan of face normal vs axis
        ok[p_ok, k_ok] = (
            edge_found.all((-1, -2, -3))
            & (rms <= params.flatness_m).all(-1)
            & (slope <= params.mu).all(-1)
        )
        # Depths rise through the loop, so a later pass is a deeper, firmer grasp.
        best = np.where(ok, depth, best)
        best_width = np.where(ok, opening, best_width)
        best_shift = np.where(ok, (run_end[..., 0] - run_end[..., 1]) * cell / 2, best_shift)

    p_idx, k_idx = np.nonzero(best >= 0)
    zc = points[p_idx, 2]
    px_per_m = intrinsics.fx / zc
    shift = best_shift[p_idx, k_idx] * px_per_m
    return [
        ImageGrasp(
            u=float(u[p] + sh * math.cos(theta[k])),
            v=float(v[p] - sh * math.sin(theta[k])),
            angle=float(theta[k]),
            width=float(w * scale),
            jaw_length=float(gripper.finger_width * scale),
            instance_id=int(ids[p]),
            label=labels.get(int(ids[p]), ""),
        )
        for p, k, sh, w, scale in zip(
            p_idx, k_idx, shift, best_width[p_idx, k_idx], px_per_m, strict=True
        )
    ]
