"""Gripper drawings of grasps: segment end points worked out by hand for simple poses."""

from __future__ import annotations

import numpy as np

from grasp_core.gripper import GripperSpec
from grasp_core.markers import gripper_segments, quality_colours
from grasp_core.pose import GraspPoses

GRIPPER = GripperSpec(finger_depth=0.05)


def _poses(rotation: np.ndarray, position: list[float], width: float) -> GraspPoses:
    return GraspPoses(
        np.array([position]), rotation[None], np.array([width]), np.array([0.5]), "base_link"
    )


def test_segments_of_an_upright_grasp_at_the_origin() -> None:
    segments = gripper_segments(_poses(np.eye(3), [0, 0, 0], 0.04), GRIPPER)
    assert segments.shape == (1, 4, 2, 3)
    expected = [
        [[-0.02, 0, -0.05], [-0.02, 0, 0.0]],  # left finger, palm to tip
        [[0.02, 0, -0.05], [0.02, 0, 0.0]],  # right finger
        [[-0.02, 0, -0.05], [0.02, 0, -0.05]],  # palm
        [[0.0, 0, -0.05], [0.0, 0, -0.10]],  # stem, behind the palm
    ]
    np.testing.assert_allclose(segments[0], expected, atol=1e-12)


def test_segments_follow_a_top_down_grasp_turned_about_z() -> None:
    # Approach straight down (z -> -z_base), closing axis along base y: columns x = (0, 1, 0),
    # y = z x x = (1, 0, 0), z = (0, 0, -1).
    rotation = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    segments = gripper_segments(_poses(rotation, [0.5, 0.1, 0.02], 0.06), GRIPPER)[0]
    # Fingertips 3 cm either side along y at the grasp height; the palm 5 cm above them.
    np.testing.assert_allclose(segments[0], [[0.5, 0.07, 0.07], [0.5, 0.07, 0.02]], atol=1e-12)
    np.testing.assert_allclose(segments[1], [[0.5, 0.13, 0.07], [0.5, 0.13, 0.02]], atol=1e-12)
    np.testing.assert_allclose(segments[3], [[0.5, 0.1, 0.07], [0.5, 0.1, 0.12]], atol=1e-12)


def test_quality_colours_run_from_red_to_green() -> None:
    colours = quality_colours(np.array([0.0, 0.25, 0.5, 1.0, 1.5, -1.0]))
    np.testing.assert_allclose(
        colours,
        [[1, 0, 0, 1], [1, 0.5, 0, 1], [1, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1], [1, 0, 0, 1]],
    )


def test_no_grasps_no_segments() -> None:
    empty = GraspPoses(np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros(0), np.zeros(0))
    assert gripper_segments(empty, GRIPPER).shape == (0, 4, 2, 3)
    assert quality_colours(np.zeros(0)).shape == (0, 4)
