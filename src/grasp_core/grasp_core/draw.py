"""Annotated images of grasps, for `grasp detect`, evaluation and the debug image topic."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from grasp_core.geometry import grasp_to_corners
from grasp_core.grasp import ImageGrasp

JAW_THICKNESS = 3
SIDE_THICKNESS = 1


def quality_colour(quality: float) -> tuple[int, int, int]:
    """BGR colour of a grasp quality in 0..1: red (0) through yellow to green (1)."""
    q = float(np.clip(quality, 0.0, 1.0))
    return (0, round(255 * min(1.0, 2 * q)), round(255 * min(1.0, 2 * (1 - q))))


def background_bgr(image: np.ndarray) -> np.ndarray:
    """A BGR uint8 copy of an RGB uint8 image, or of a depth image as a colour map.

    Depth (uint16 sensor units or float m) is scaled between its valid extremes; missing
    depth (0 or NaN) is black.
    """
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2BGR)
    depth = np.asarray(image, np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    grey = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = depth[valid].min(), depth[valid].max()
        grey[valid] = np.round(255 * (depth[valid] - lo) / max(hi - lo, 1e-9)).astype(np.uint8)
    coloured = cv2.applyColorMap(grey, cv2.COLORMAP_VIRIDIS)
    coloured[~valid] = 0
    return coloured


def draw_grasps(image: np.ndarray, grasps: Sequence[ImageGrasp]) -> np.ndarray:
    """BGR uint8 image with each grasp drawn over ``image`` (not modified).

    The jaws (the rectangle's sides across the closing axis) are drawn thick and the
    opening sides thin, in the colour of the grasp's quality; the centre is marked and
    labelled with the rank (1 = first in ``grasps``) and quality. The best grasp is drawn
    last, on top.
    """
    canvas = background_bgr(image)
    for rank in range(len(grasps), 0, -1):
        g = grasps[rank - 1]
        colour = quality_colour(g.quality)
        p = np.round(grasp_to_corners(g)).astype(np.int32)
        # p0 -> p1 and p2 -> p3 run along the opening; p1 -> p2 and p3 -> p0 are the jaws.
        for a, b, thickness in ((0, 1, SIDE_THICKNESS), (2, 3, SIDE_THICKNESS),
                                (1, 2, JAW_THICKNESS), (3, 0, JAW_THICKNESS)):  # fmt: skip
            cv2.line(canvas, tuple(p[a]), tuple(p[b]), colour, thickness, cv2.LINE_AA)
        centre = (round(g.u), round(g.v))
        cv2.circle(canvas, centre, 2, colour, -1, cv2.LINE_AA)
        cv2.putText(
            canvas, f"{rank} {g.quality:.2f}", (centre[0] + 4, centre[1] - 4),
            cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA,
        )  # fmt: skip
    return canvas


def tint_instances(bgr: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A copy of a BGR image with each instance of a label image (0 = none, k = instance id,
    as grasp_core.instances.instance_image) tinted in a colour of its own."""
    out = bgr.copy()
    for instance_id in np.unique(labels[labels > 0]):
        hue = (int(instance_id) * 47) % 180  # well-spread hues for neighbouring ids
        colour = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
        region = labels == instance_id
        out[region] = ((1 - alpha) * out[region] + alpha * colour).astype(np.uint8)
    return out
