"""Training samples: the network input and its ground-truth maps from a dataset Sample.

A sample is cut from its image by one affine map (crop, zoom, rotation about the crop
centre) onto the network input, and its rectangles follow the same map, so the
augmentation of 004_b952421ab3ddfc5d.txt / GR-ConvNet (rotation, zoom, crop) never has to
re-label anything. Without augmentation the map is serving's default centre crop, so
validation sees exactly what a deployed model sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from grasp_core.datasets.sample import Sample
from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata
from grasp_core.preprocess import centre_crop, inpaint_depth, normalize_depth, normalize_rgb
from grasp_learning.targets import GraspMaps, grasp_maps


@dataclass(frozen=True)
class Augmentation:
    """rotation_deg: rotations drawn uniformly in +/- this, deg. zoom: (low, high) factor
    on the crop's size (>1 zooms in). shift: crop centre moves up to this fraction of the
    crop size."""

    rotation_deg: float = 180.0
    zoom: tuple[float, float] = (0.8, 1.25)
    shift: float = 0.1


NO_AUGMENTATION = Augmentation(rotation_deg=0.0, zoom=(1.0, 1.0), shift=0.0)


def input_map(
    image_size: tuple[int, int],
    metadata: ModelMetadata,
    rng: np.random.Generator,
    augmentation: Augmentation,
) -> tuple[np.ndarray, float, float]:
    """2x3 affine map image px -> input px, its rotation (rad, CCW on screen) and scale."""
    crop = centre_crop(image_size, metadata.input_size)
    h, w = metadata.input_size
    rotation = rng.uniform(-1, 1) * augmentation.rotation_deg
    scale = crop.sx * rng.uniform(*augmentation.zoom)
    centre = np.array([crop.x0 + crop.width / 2, crop.y0 + crop.height / 2])
    centre = centre + rng.uniform(-1, 1, 2) * augmentation.shift * crop.width
    # OpenCV's positive angle turns the image counter-clockwise on screen.
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), rotation, scale)
    matrix[:, 2] += np.array([w / 2, h / 2]) - centre
    return matrix, math.radians(rotation), scale


def map_grasp(grasp: ImageGrasp, matrix: np.ndarray, rotation: float, scale: float) -> ImageGrasp:
    """``grasp`` after the similarity ``matrix`` (rotation rad CCW on screen, scale)."""
    u, v = matrix @ np.array([grasp.u, grasp.v, 1.0])
    return replace(
        grasp,
        u=float(u),
        v=float(v),
        angle=grasp.angle + rotation,
        width=grasp.width * scale,
        jaw_length=grasp.jaw_length * scale,
    )


def network_input(sample: Sample, metadata: ModelMetadata, matrix: np.ndarray) -> np.ndarray:
    """Network input (C, H, W) float32 of ``sample`` under the 2x3 affine ``matrix``
    (image px -> input px, as input_map gives)."""
    h, w = metadata.input_size
    depth = cv2.warpAffine(
        inpaint_depth(sample.depth),
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    channels = []
    if metadata.modality in ("rgb", "rgbd"):
        rgb = cv2.warpAffine(
            sample.rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        channels.append(normalize_rgb(rgb, metadata.normalization))
    if metadata.modality in ("depth", "rgbd"):
        channels.append(normalize_depth(depth, metadata.normalization)[None])
    return np.concatenate(channels).astype(np.float32)


def training_pair(
    sample: Sample,
    metadata: ModelMetadata,
    rng: np.random.Generator,
    augmentation: Augmentation = NO_AUGMENTATION,
) -> tuple[np.ndarray, GraspMaps, list[ImageGrasp]]:
    """Network input (C, H, W) float32, its target maps and its grasps in input px."""
    matrix, rotation, scale = input_map(sample.depth.shape, metadata, rng, augmentation)
    h, w = metadata.input_size
    grasps = [map_grasp(g, matrix, rotation, scale) for g in sample.grasps]
    inside = [g for g in grasps if 0 <= g.u < w and 0 <= g.v < h]
    x = network_input(sample, metadata, matrix)
    return x, grasp_maps(inside, (h, w), metadata), inside
