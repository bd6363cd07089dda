"""Training targets: ground-truth grasp maps from labelled grasp rectangles, and the loss.

After 004_b952421ab3ddfc5d.txt (section IV-C, eq. 7 and 9):
- the "strong" Gaussian quality map: each rectangle contributes exp(-d^2 / 2 sigma^2) at
  distance d px from its centre, only inside its centre third (the middle third of the
  opening, the full jaw length), and a pixel takes the maximum over rectangles;
- N angle bins of pi / N each, so up to N grasps per pixel (ORANGE's scheme);
- where rectangles of one bin overlap, the smallest opening gives the angle and width;
- the positional loss: N x L(Q) + Q_hat x (L(cos) + L(sin) + L(W)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from grasp_core.geometry import corners_from_params
from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata
from grasp_core.postprocess import angle_to_maps, width_to_map


@dataclass(frozen=True)
class GraspMaps:
    """Ground truth for one image, each (angle_bins, H, W) float32 over the network input.

    quality 0..1; cos2theta, sin2theta of the grasp angle; width as the network's width map
    (grasp_core.postprocess.width_to_map, so the width scale is defined once).
    """

    quality: np.ndarray
    cos2theta: np.ndarray
    sin2theta: np.ndarray
    width: np.ndarray

    def stacked(self) -> np.ndarray:
        """(4, angle_bins, H, W) in grasp_core.serving.OUTPUT_NAMES order."""
        return np.stack([self.quality, self.cos2theta, self.sin2theta, self.width])


def angle_bin(angle: float, bins: int) -> int:
    """Index of the pi / bins wide bin holding ``angle`` (rad, in [-pi/2, pi/2))."""
    return min(int((angle + math.pi / 2) // (math.pi / bins)), bins - 1)


def grasp_maps(
    grasps: Sequence[ImageGrasp],
    size: tuple[int, int],
    metadata: ModelMetadata,
    sigma_px: float = 2.0,
) -> GraspMaps:
    """Ground-truth maps of ``grasps`` (px of the network input) for an image of ``size``.

    sigma_px: spread of the Gaussian around each grasp centre, px (2 in ORANGE and 004).
    """
    h, w = size
    bins = metadata.angle_bins
    quality = np.zeros((bins, h, w), np.float32)
    angle = np.zeros((bins, h, w), np.float32)
    width_px = np.zeros((bins, h, w), np.float32)
    vv, uu = np.mgrid[0:h, 0:w]
    # Widest first, so a narrower grasp over the same pixels overwrites angle and width.
    for g in sorted(grasps, key=lambda g: g.width, reverse=True):
        centre_third = corners_from_params(g.u, g.v, g.angle, g.width / 3, g.jaw_length)[0]
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(centre_third).astype(np.int32), 1)
        inside = mask.astype(bool)
        if not inside.any():
            continue
        b = angle_bin(g.angle, bins)
        gauss = np.exp(-((uu[inside] - g.u) ** 2 + (vv[inside] - g.v) ** 2) / (2 * sigma_px**2))
        quality[b][inside] = np.maximum(quality[b][inside], gauss)
        angle[b][inside] = g.angle
        width_px[b][inside] = g.width
    cos2, sin2 = angle_to_maps(angle)
    covered = width_px > 0
    return GraspMaps(
        quality=quality,
        cos2theta=np.where(covered, cos2, 0).astype(np.float32),
        sin2theta=np.where(covered, sin2, 0).astype(np.float32),
        width=np.clip(width_to_map(width_px, metadata), 0, 1).astype(np.float32),
    )


def positional_loss(
    predicted: Sequence[torch.Tensor],
    target: torch.Tensor,
    smooth_l1: bool,
    positive_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """004's eq. 9 over a batch: N x L(Q) + Q_hat x (L(cos) + L(sin) + L(W)).

    predicted: quality, cos2theta, sin2theta, width, each (B, N, H, W). target: (B, 4, N, H, W)
    as GraspMaps.stacked. smooth_l1: GR-ConvNet's loss; MSE otherwise (GG-CNN2).
    positive_weight: the quality error at a pixel counts 1 + positive_weight x Q_hat times,
    so the few grasp pixels of a cluttered table are not drowned by the many empty ones
    (002's answer to the same imbalance is positive-sample enhancement); 0 is plain eq. 9.
    Returns the loss and its parts for logging.
    """
    elementwise = F.smooth_l1_loss if smooth_l1 else F.mse_loss
    bins = target.shape[2]
    q_hat = target[:, 0]
    parts = {
        name: elementwise(p, target[:, i], reduction="none")
        for i, (name, p) in enumerate(
            zip(("quality", "cos", "sin", "width"), predicted, strict=True)
        )
    }
    quality = (parts.pop("quality") * (1.0 + positive_weight * q_hat)).mean()
    weighted = {name: (q_hat * loss).mean() for name, loss in parts.items()}
    total = bins * quality + sum(weighted.values())
    return total, {"quality": quality.item(), **{k: v.item() for k, v in weighted.items()}}
