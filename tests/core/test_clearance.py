"""The fingers' way down checked on depth: a camera 0.6 m straight above a table (base z = 0),
boxes drawn into its depth image from their base-frame extents, and a top-down grasp at the
origin closing along base x. Which boxes a finger lands on is worked out from the gripper's
numbers: fingers 10 mm thick outside the opening and 22 mm wide, TIP_TOLERANCE_M 20 mm."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from grasp_core.camera import CameraIntrinsics
from grasp_core.clearance import (
    BLOCKED_SHARE,
    TIP_TOLERANCE_M,
    TURN_STEP_RAD,
    SeenDepth,
    blocked_share,
    turn_about_approach,
    turned_free,
)
from grasp_core.grasp import ImageGrasp
from grasp_core.gripper import GripperSpec
from grasp_core.pose import TransformSettings, grasps_in_base
from grasp_core.workspace import Workspace

CAMERA_HEIGHT = 0.6
CAM = CameraIntrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)
# Optical x = base x, optical y = -base y, optical z = CAMERA_HEIGHT - base z.
BASE_FROM_OPTICAL = np.array(
    [[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, -1.0, CAMERA_HEIGHT], [0, 0, 0, 1.0]]
)
# Gripper x (closing) = base x, z (approach) = down, y = z cross x.
DOWN = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
GRIPPER = GripperSpec()
TARGET = ((-0.02, 0.02), (-0.03, 0.03), 0.06)  # x range, y range (m), height (m)
TIP_Z = 0.02  # 4 cm below the target's top


def depth_of(*boxes) -> np.ndarray:
    """The camera's depth (m) of the table with boxes ((x0, x1), (y0, y1), height) on it."""
    depth = np.full((CAM.height, CAM.width), CAMERA_HEIGHT)
    v, u = np.mgrid[0 : CAM.height, 0 : CAM.width]
    for (x0, x1), (y0, y1), height in boxes:
        z = CAMERA_HEIGHT - height
        x, y = (u - CAM.cx) * z / CAM.fx, -(v - CAM.cy) * z / CAM.fy
        top = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        depth = np.where(top, np.minimum(depth, z), depth)
    return depth


def share(depth: np.ndarray, opening: float = 0.055, scale: float = 1.0) -> float:
    return float(
        blocked_share(
            np.array([[0.0, 0.0, TIP_Z]]), DOWN[None], np.array([opening]),
            SeenDepth(depth, CAM, BASE_FROM_OPTICAL, scale), GRIPPER,
        )[0]
    )  # fmt: skip


def test_fingers_beside_an_object_narrower_than_the_opening_are_free() -> None:
    assert share(depth_of(TARGET)) == 0.0


def test_an_object_wider_than_the_full_opening_blocks_both_fingers() -> None:
    wide = ((-0.07, 0.07), (-0.03, 0.03), 0.06)
    assert share(depth_of(wide), opening=GRIPPER.max_opening) == 1.0


def test_a_neighbour_under_a_whole_finger_blocks_the_grasp() -> None:
    # Fingers span |x| from 0.0275 to 0.0375 m; this neighbour covers the +x one.
    neighbour = ((0.025, 0.08), (-0.05, 0.05), TIP_Z + TIP_TOLERANCE_M + 0.01)
    assert share(depth_of(TARGET, neighbour)) >= BLOCKED_SHARE


def test_a_neighbour_lower_than_the_tolerance_above_the_tips_is_not_in_the_way() -> None:
    neighbour = ((0.025, 0.08), (-0.05, 0.05), TIP_Z + TIP_TOLERANCE_M - 0.005)
    assert share(depth_of(TARGET, neighbour)) == 0.0


def test_a_neighbour_under_half_a_finger_is_grazed_not_blocking() -> None:
    # The finger spans y from -0.011 to 0.011 m; this covers the half beyond y = 0.002 m.
    half = ((0.025, 0.08), (0.002, 0.05), 0.06)
    assert share(depth_of(TARGET, half)) == pytest.approx(0.5)
    assert share(depth_of(TARGET, half)) < BLOCKED_SHARE


def test_holes_in_the_depth_count_as_free_in_m_and_in_mm() -> None:
    neighbour = ((0.025, 0.08), (-0.05, 0.05), 0.06)
    depth = depth_of(TARGET, neighbour)
    hole = np.abs(depth - (CAMERA_HEIGHT - 0.06)) < 1e-9
    hole[:, : int(CAM.cx)] = False  # the target, left of the neighbour, stays measured
    assert share(np.where(hole, np.nan, depth)) == 0.0
    mm = np.rint(depth * 1000).astype(np.uint16)
    assert share(mm, scale=0.001) == 1.0
    assert share(np.where(hole, 0, mm).astype(np.uint16), scale=0.001) == 0.0


def test_no_grasps_give_no_shares() -> None:
    empty = blocked_share(
        np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros(0),
        SeenDepth(depth_of(), CAM, BASE_FROM_OPTICAL), GRIPPER,
    )  # fmt: skip
    assert empty.shape == (0,)


def test_grasps_in_base_drops_a_grasp_whose_finger_lands_on_a_neighbour() -> None:
    neighbour = ((0.025, 0.08), (-0.05, 0.05), 0.06)
    depth = depth_of(TARGET, neighbour)
    # At the image centre, closing along image u = base x, 40 mm wide at the target's top.
    grasp = ImageGrasp(
        u=CAM.cx,
        v=CAM.cy,
        angle=0.0,
        width=0.04 * CAM.fx / 0.54,
        jaw_length=20.0,
        quality=0.9,
    )
    workspace = Workspace(np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 0.5]))
    settings = TransformSettings(
        workspace, grasp_depth_m=0.04, approach="table_normal", max_turn_rad=0.0
    )
    result = grasps_in_base([grasp], depth, CAM, BASE_FROM_OPTICAL, settings)
    assert len(result.indices) == 0
    assert "a finger would land on something" in result.dropped[0][1]
    unchecked = replace(settings, check_fingers=False)
    kept = grasps_in_base([grasp], depth, CAM, BASE_FROM_OPTICAL, unchecked)
    assert list(kept.indices) == [0]
    np.testing.assert_allclose(kept.poses.positions[0], [0.0, 0.0, TIP_Z], atol=2e-3)
    # Without the neighbour the same grasp goes through the check.
    free = grasps_in_base([grasp], depth_of(TARGET), CAM, BASE_FROM_OPTICAL, settings)
    assert list(free.indices) == [0]


def top_down_grasp(width_m: float) -> ImageGrasp:
    """At the image centre, closing along image u = base x, width_m wide at the target's top."""
    return ImageGrasp(CAM.cx, CAM.cy, 0.0, width_m * CAM.fx / 0.54, 20.0, quality=0.9)


SETTINGS = TransformSettings(
    Workspace(np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 0.5])),
    grasp_depth_m=0.04,
    approach="table_normal",
)


def test_a_grasp_blocked_by_a_neighbours_corner_comes_back_turned_the_least_that_frees_it() -> None:
    # A post just larger than the +x finger's 10 x 22 mm footprint: a 15 degree turn swings
    # the finger's far corners 8 mm sideways, off the post.
    post = ((0.027, 0.038), (-0.012, 0.012), 0.06)
    depth = depth_of(TARGET, post)
    assert share(depth) >= BLOCKED_SHARE
    result = grasps_in_base([top_down_grasp(0.04)], depth, CAM, BASE_FROM_OPTICAL, SETTINGS)
    assert list(result.indices) == [0]
    rotation = result.poses.rotations[0]
    turn = np.arctan2(rotation[1, 0], rotation[0, 0])  # closing axis from base x, about z
    assert abs(turn) == pytest.approx(TURN_STEP_RAD)  # the least turn, not 30 degrees
    np.testing.assert_allclose(rotation[:, 2], [0.0, 0.0, -1.0], atol=1e-9)  # still down
    after = blocked_share(
        result.poses.positions, result.poses.rotations, np.array([0.055]),
        SeenDepth(depth, CAM, BASE_FROM_OPTICAL), GRIPPER,
    )  # fmt: skip
    assert after[0] < BLOCKED_SHARE


def test_a_grasp_blocked_all_round_stays_dropped() -> None:
    # An object wider than the full opening every way: every turn lands a finger on it.
    wide = ((-0.08, 0.08), (-0.08, 0.08), 0.06)
    result = grasps_in_base(
        [top_down_grasp(0.04)], depth_of(wide), CAM, BASE_FROM_OPTICAL, SETTINGS
    )
    assert len(result.indices) == 0
    assert "a finger would land on something" in result.dropped[0][1]


def test_turned_free_tries_turns_both_ways_up_to_the_limit() -> None:
    post = ((0.027, 0.038), (-0.012, 0.012), 0.06)
    depth = depth_of(TARGET, post)
    seen = SeenDepth(depth, CAM, BASE_FROM_OPTICAL)
    args = (np.array([[0.0, 0.0, TIP_Z]]), DOWN[None], np.array([0.055]), seen, GRIPPER)
    rotations, freed = turned_free(*args, max_turn_rad=0.0)
    assert not freed[0] and np.array_equal(rotations[0], DOWN)
    rotations, freed = turned_free(*args, max_turn_rad=0.3)
    assert freed[0]
    np.testing.assert_allclose(
        rotations[0], turn_about_approach(DOWN[None], np.array([TURN_STEP_RAD]))[0, 0]
    )
