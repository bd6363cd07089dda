"""Annotated grasp images."""

from __future__ import annotations

import math

import numpy as np

from grasp_core.draw import draw_grasps, quality_colour
from grasp_core.grasp import ImageGrasp


def test_jaws_are_drawn_in_the_quality_colour_and_the_input_is_kept() -> None:
    rgb = np.full((100, 120, 3), 40, np.uint8)
    before = rgb.copy()
    # Horizontal closing axis: jaws are the vertical sides at u = 60 +- 20, v in 50 +- 10.
    grasp = ImageGrasp(u=60, v=50, angle=0.0, width=40, jaw_length=20, quality=0.9)
    out = draw_grasps(rgb, [grasp])
    np.testing.assert_array_equal(rgb, before)
    assert out.shape == (100, 120, 3) and out.dtype == np.uint8
    colour = quality_colour(0.9)
    for u in (40, 80):
        np.testing.assert_array_equal(out[50, u], colour)
    # Between the jaws, away from the centre mark and the label, the frame shows through.
    np.testing.assert_array_equal(out[55, 50], [40, 40, 40])


def test_better_grasps_are_greener() -> None:
    low, high = quality_colour(0.2), quality_colour(0.9)
    assert high[1] > low[1] and high[2] < low[2]  # BGR: more green, less red


def test_rotated_grasp_jaw_centres_are_drawn() -> None:
    rgb = np.zeros((100, 100, 3), np.uint8)
    a = math.radians(30)
    grasp = ImageGrasp(u=50, v=50, angle=a, width=40, jaw_length=12, quality=1.0)
    out = draw_grasps(rgb, [grasp])
    # Jaw centres at +-20 px along (cos a, -sin a), counter-clockwise on screen.
    for sign in (1, -1):
        u, v = 50 + sign * 20 * math.cos(a), 50 - sign * 20 * math.sin(a)
        assert out[round(v), round(u)].any()


def test_depth_background_with_missing_depth_is_black() -> None:
    depth = np.linspace(0.5, 1.0, 80 * 60, dtype=np.float32).reshape(60, 80)
    depth[:10, :10] = np.nan
    depth[-10:, -10:] = 0
    out = draw_grasps(depth, [])
    assert out.shape == (60, 80, 3)
    assert not out[:10, :10].any() and not out[-10:, -10:].any()
    assert out[30, 40].any()
