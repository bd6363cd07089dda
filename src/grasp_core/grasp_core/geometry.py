"""Grasp rectangles in the image: corners, rotated-rectangle IoU, angle distance, grasp NMS.

Conventions are those of grasp_core.grasp: (u, v) px, angle of the closing axis in rad,
counter-clockwise on screen, so the closing axis is d = (cos a, -sin a) in (u, v) and the
jaw direction across it is n = (sin a, cos a).

Corner order (grasp_to_corners, corners_from_params, corners_to_grasp) follows the Cornell /
Jacquard rectangle files as read by GG-CNN and GR-ConvNet: p0 -> p1 runs along +d and is a
width side (the closing axis), p1 -> p2 runs along +n and is a jaw side:

    p0 = c - d*width/2 - n*jaw/2    p1 = c + d*width/2 - n*jaw/2
    p3 = c - d*width/2 + n*jaw/2    p2 = c + d*width/2 + n*jaw/2

which is clockwise as seen on screen (positive shoelace area in (u, v)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grasp_core.grasp import NO_INSTANCE, ImageGrasp, wrap_angle

# Columns of a grasp parameter array, see grasps_to_array.
U, V, ANGLE, WIDTH, JAW = range(5)

# Points this close to a boundary, relative to the rectangles' size, count as on it, so that
# shared edges and corners of touching or identical rectangles survive rounding (about 1e-16
# relative); the overlap this can add is as small, relatively.
_REL_TOL = 1e-10


def grasps_to_array(grasps: Sequence[ImageGrasp]) -> np.ndarray:
    """(N, 5) float64 array of u, v (px), angle (rad), width, jaw_length (px) per grasp."""
    return np.array(
        [(g.u, g.v, g.angle, g.width, g.jaw_length) for g in grasps], dtype=np.float64
    ).reshape(-1, 5)


def corners_from_params(
    u: np.ndarray | float,
    v: np.ndarray | float,
    angle: np.ndarray | float,
    width: np.ndarray | float,
    jaw_length: np.ndarray | float,
) -> np.ndarray:
    """(N, 4, 2) corners (u, v) px of N grasp rectangles, in the module's corner order.

    u, v: centres, px; angle: closing-axis angle, rad; width, jaw_length: px. Scalars and
    arrays broadcast against each other.
    """
    u, v, angle, width, jaw_length = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (u, v, angle, width, jaw_length))
    )
    c, s = np.cos(angle), np.sin(angle)
    half_d = 0.5 * width[:, None] * np.stack([c, -s], axis=-1)
    half_n = 0.5 * jaw_length[:, None] * np.stack([s, c], axis=-1)
    centre = np.stack([u, v], axis=-1)
    return np.stack(
        [
            centre - half_d - half_n,
            centre + half_d - half_n,
            centre + half_d + half_n,
            centre - half_d + half_n,
        ],
        axis=1,
    )


def grasp_to_corners(grasp: ImageGrasp) -> np.ndarray:
    """(4, 2) corners (u, v) px of the grasp rectangle, in the module's corner order."""
    return corners_from_params(grasp.u, grasp.v, grasp.angle, grasp.width, grasp.jaw_length)[0]


def corners_to_grasp(
    corners: np.ndarray,
    quality: float = 1.0,
    instance_id: int = NO_INSTANCE,
    label: str = "",
) -> ImageGrasp:
    """The grasp of a (4, 2) rectangle given as corners (u, v) px in the module's order.

    p0 -> p1 (and p3 -> p2) is the closing axis, so its length is the width; p1 -> p2 (and
    p0 -> p3) is the jaw side. Opposite sides are averaged, which makes slightly
    non-rectangular hand annotations usable and is exact for true rectangles: the inverse of
    grasp_to_corners up to the half-turn symmetry of the angle.
    """
    p = np.asarray(corners, dtype=np.float64)
    if p.shape != (4, 2):
        raise ValueError(f"corners must be a (4, 2) array of (u, v) px, got shape {p.shape}")
    axis = 0.5 * ((p[1] - p[0]) + (p[2] - p[3]))
    across = 0.5 * ((p[3] - p[0]) + (p[2] - p[1]))
    centre = p.mean(axis=0)
    return ImageGrasp(
        u=float(centre[0]),
        v=float(centre[1]),
        angle=math.atan2(-axis[1], axis[0]),
        width=float(np.hypot(*axis)),
        jaw_length=float(np.hypot(*across)),
        quality=quality,
        instance_id=instance_id,
        label=label,
    )


def angle_difference(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """|a - b| of grasp angles (rad) modulo the half turn, in [0, pi/2]; arrays broadcast."""
    diff = np.abs(wrap_angle(np.subtract(a, b, dtype=np.float64)))
    return float(diff) if np.ndim(diff) == 0 else diff


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(M, K) mask: points (M, K, 2) px lie in (or on) rectangle m of rects (M, 5)."""
    c, s = np.cos(rects[:, ANGLE]), np.sin(rects[:, ANGLE])
    rel = points - rects[:, None, U : V + 1]
    along = rel[..., 0] * c[:, None] - rel[..., 1] * s[:, None]
    across = rel[..., 0] * s[:, None] + rel[..., 1] * c[:, None]
    scale = 1.0 + np.abs(rects[:, U]) + np.abs(rects[:, V]) + rects[:, WIDTH] + rects[:, JAW]
    tol = _REL_TOL * scale[:, None]
    return (np.abs(along) <= 0.5 * rects[:, None, WIDTH] + tol) & (
        np.abs(across) <= 0.5 * rects[:, None, JAW] + tol
    )


def _intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M,) px² overlap of rectangles a[m] and b[m], both (M, 5) parameter arrays.

    The overlap of two convex polygons is the convex hull of the corners of each inside the
    other and of their edge crossings; ordering those points by angle about their mean and
    taking the shoelace area does every pair at once, without a per-pair polygon clip.
    """
    # The overlap does not change under translation; working about a's centre keeps rounding
    # relative to the rectangles' size, not to their distance from the image origin.
    b = b.copy()
    b[:, U : V + 1] -= a[:, U : V + 1]
    a = a.copy()
    a[:, U : V + 1] = 0.0
    ca = corners_from_params(*a.T)
    cb = corners_from_params(*b.T)
    ea = np.roll(ca, -1, axis=1) - ca
    eb = np.roll(cb, -1, axis=1) - cb
    # Edge i of a against edge j of b: ca_i + t*ea_i == cb_j + s*eb_j.
    denom = _cross(ea[:, :, None], eb[:, None, :])
    offset = cb[:, None, :] - ca[:, :, None]
    lengths = np.linalg.norm(ea, axis=-1)[:, :, None] * np.linalg.norm(eb, axis=-1)[:, None, :]
    crossing = np.abs(denom) > _REL_TOL * lengths
    safe = np.where(crossing, denom, 1.0)
    t = _cross(offset, eb[:, None, :]) / safe
    s = _cross(offset, ea[:, :, None]) / safe
    lo, hi = -_REL_TOL, 1.0 + _REL_TOL
    crossing &= (t >= lo) & (t <= hi) & (s >= lo) & (s <= hi)
    hits = ca[:, :, None] + t[..., None] * ea[:, :, None]

    m = len(a)
    points = np.concatenate([ca, cb, hits.reshape(m, 16, 2)], axis=1)
    valid = np.concatenate([_inside(ca, b), _inside(cb, a), crossing.reshape(m, 16)], axis=1)
    count = valid.sum(axis=1)
    mean = (points * valid[..., None]).sum(axis=1) / np.maximum(count, 1)[:, None]
    rel = points - mean[:, None]
    theta = np.where(valid, np.arctan2(rel[..., 1], rel[..., 0]), np.inf)
    order = np.argsort(theta, axis=1)
    rel = np.take_along_axis(rel, order[..., None], axis=1)
    valid = np.take_along_axis(valid, order, axis=1)
    # Padding with the first point adds only zero-length edges, closing the polygon exactly.
    rel = np.where(valid[..., None], rel, rel[:, :1])
    area = 0.5 * np.abs(_cross(rel, np.roll(rel, -1, axis=1)).sum(axis=1))
    return np.where(count >= 3, area, 0.0)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M,) IoU of rectangle a[m] with b[m], both (M, 5) arrays as from grasps_to_array.

    A rectangle without a positive width and jaw_length has IoU 0 with anything. Pairs whose
    bounding circles are apart are 0 without computing their overlap.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 5)
    area_a = a[:, WIDTH] * a[:, JAW]
    area_b = b[:, WIDTH] * b[:, JAW]
    reach = 0.5 * (np.hypot(a[:, WIDTH], a[:, JAW]) + np.hypot(b[:, WIDTH], b[:, JAW]))
    near = np.hypot(a[:, U] - b[:, U], a[:, V] - b[:, V]) < reach
    proper = (a[:, WIDTH] > 0) & (a[:, JAW] > 0) & (b[:, WIDTH] > 0) & (b[:, JAW] > 0)
    todo = near & proper
    iou = np.zeros(len(a))
    if todo.any():
        inter = _intersection_area(a[todo], b[todo])
        union = area_a[todo] + area_b[todo] - inter
        iou[todo] = np.clip(inter / union, 0.0, 1.0)
    return iou


def rect_iou(a: ImageGrasp, b: ImageGrasp) -> float:
    """Intersection over union of the two grasp rectangles, in [0, 1]."""
    return float(paired_iou(grasps_to_array([a]), grasps_to_array([b]))[0])


def rect_iou_matrix(preds: Sequence[ImageGrasp], gts: Sequence[ImageGrasp]) -> np.ndarray:
    """(P, G) IoU of every prediction rectangle with every ground-truth rectangle."""
    p, g = grasps_to_array(preds), grasps_to_array(gts)
    rows, cols = np.meshgrid(np.arange(len(p)), np.arange(len(g)), indexing="ij")
    return paired_iou(p[rows.ravel()], g[cols.ravel()]).reshape(len(p), len(g))


def grasp_nms(
    grasps: Sequence[ImageGrasp],
    k: int,
    min_distance_px: float = 0.0,
    iou_threshold: float = 0.25,
    angle_threshold_rad: float = math.radians(30),
) -> list[ImageGrasp]:
    """At most k grasps, best quality first, none a duplicate of a better one kept.

    Greedy in order of decreasing quality (input order on ties). A candidate is a duplicate
    of a kept grasp, and dropped, when its centre is less than min_distance_px (Euclidean,
    px) from the kept centre, or when its rectangle IoU with the kept one exceeds
    iou_threshold and their angles differ by less than angle_threshold_rad. With the
    defaults (no distance rule, 0.25, 30 deg) a candidate is dropped exactly when it would
    match a kept grasp, taken as ground truth, under the default rectangle metric of
    grasp_core.metrics. Labels and instances are not looked at; run it per instance for
    per-object grasps.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    order = sorted(range(len(grasps)), key=lambda i: -grasps[i].quality)
    params = grasps_to_array(grasps)
    kept: list[int] = []
    for i in order:
        if len(kept) == k:
            break
        others = params[kept]
        mine = np.broadcast_to(params[i], others.shape)
        close = np.hypot(*(others[:, U : V + 1] - mine[:, U : V + 1]).T) < min_distance_px
        same = (paired_iou(mine, others) > iou_threshold) & (
            angle_difference(mine[:, ANGLE], others[:, ANGLE]) < angle_threshold_rad
        )
        if not (close | same).any():
            kept.append(i)
    return [grasps[i] for i in kept]
