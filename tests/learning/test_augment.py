"""Augmented training pairs: rectangles follow the image through crop, zoom and rotation."""

from __future__ import annotations

import math

import cv2
import numpy as np

from grasp_core.datasets import Sample
from grasp_core.geometry import grasp_to_corners
from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata
from grasp_learning.augment import NO_AUGMENTATION, Augmentation, training_pair

METADATA = ModelMetadata("ggcnn2", (96, 96), modality="rgbd", angle_bins=3)


def _sample_with_painted_grasp(grasp: ImageGrasp) -> Sample:
    """A 160x200 image whose only bright region is the grasp's rectangle."""
    rgb = np.zeros((160, 200, 3), np.uint8)
    cv2.fillConvexPoly(rgb, np.round(grasp_to_corners(grasp)).astype(np.int32), (255, 255, 255))
    depth = np.full((160, 200), 0.6, np.float32)
    return Sample("painted", rgb, depth, (grasp,))


def test_mapped_rectangle_covers_the_warped_paint() -> None:
    grasp = ImageGrasp(110, 70, math.radians(20), 40, 16)
    sample = _sample_with_painted_grasp(grasp)
    rng = np.random.default_rng(4)
    for _ in range(5):
        x, _, grasps = training_pair(sample, METADATA, rng, Augmentation(rotation_deg=180))
        paint = x[0] > x[0].mean() + 0.2  # the red channel after normalisation
        if not grasps:
            continue
        mask = np.zeros(paint.shape, np.uint8)
        cv2.fillConvexPoly(mask, np.round(grasp_to_corners(grasps[0])).astype(np.int32), 1)
        overlap = (paint & (mask > 0)).sum() / max(1, (paint | (mask > 0)).sum())
        assert overlap > 0.75


def test_without_augmentation_the_input_is_servings_centre_crop() -> None:
    grasp = ImageGrasp(100, 80, 0.3, 40, 16)
    _, maps, grasps = training_pair(
        _sample_with_painted_grasp(grasp), METADATA, np.random.default_rng(0), NO_AUGMENTATION
    )
    # The centre 160x160 of the 200 px wide image, scaled to 96 px: 0.6 input px per px.
    (g,) = grasps
    assert math.isclose(g.u, (100 - 20 + 0.5) * 0.6 - 0.5, abs_tol=0.35)
    assert math.isclose(g.v, (80 + 0.5) * 0.6 - 0.5, abs_tol=0.35)
    assert math.isclose(g.width, 24.0) and math.isclose(g.angle, 0.3)
    assert maps.quality.max() > 0.9


def test_a_quarter_turn_turns_the_grasp_angle() -> None:
    grasp = ImageGrasp(100, 80, 0.2, 40, 16)
    rng = np.random.default_rng(0)
    augmentation = Augmentation(rotation_deg=90.0, zoom=(1.0, 1.0), shift=0.0)
    # rng.uniform(-1, 1) draws the rotation; find a draw and compare with its angle.
    draw = np.random.default_rng(0).uniform(-1, 1) * 90.0
    _, _, (g,) = training_pair(_sample_with_painted_grasp(grasp), METADATA, rng, augmentation)
    expected = (0.2 + math.radians(draw) + math.pi / 2) % math.pi - math.pi / 2
    assert math.isclose(g.angle, expected, abs_tol=1e-9)
