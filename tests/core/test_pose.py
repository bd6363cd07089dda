"""Pinhole camera maps and the image grasp -> 6-DoF grasp pose conversion.

Frames: optical (x right, y down, z forward), pixels (u right, v down). Grasp angles are
counter-clockwise on screen, so the closing axis is (cos a, -sin a) in (u, v) and hence
(cos a, -sin a, 0) in the optical frame. Expected values are worked out by hand below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grasp_core.camera import D435_COLOR_640X480, CameraIntrinsics
from grasp_core.grasp import ImageGrasp
from grasp_core.pose import GraspPose, grasp_pose_in_camera, patch_depth
from grasp_core.preprocess import InputError

# Different focal lengths along u and v, so that mixing them up shows.
K = CameraIntrinsics(fx=600.0, fy=500.0, cx=32.0, cy=24.0, width=64, height=48)


def flat(z: float = 0.6) -> np.ndarray:
    return np.full((K.height, K.width), z, np.float64)


# --- camera ---------------------------------------------------------------------------------


def test_matrix_is_k() -> None:
    np.testing.assert_array_equal(K.matrix, [[600, 0, 32], [0, 500, 24], [0, 0, 1]])


def test_backproject_by_hand() -> None:
    # (42 - 32) * 2 / 600 = 1/30, (14 - 24) * 2 / 500 = -0.04.
    p = K.backproject(np.float64(42.0), np.float64(14.0), 2.0)
    np.testing.assert_allclose(p, [1 / 30, -0.04, 2.0], atol=1e-12)
    np.testing.assert_allclose(K.project(p), [42.0, 14.0], atol=1e-9)


def test_backproject_project_round_trip_on_arrays() -> None:
    rng = np.random.default_rng(3)
    u = rng.uniform(-10, 80, (5, 7))
    v = rng.uniform(-10, 60, (5, 7))
    z = rng.uniform(0.1, 5.0, (5, 7))
    points = K.backproject(u, v, z)
    assert points.shape == (5, 7, 3)
    np.testing.assert_allclose(points[..., 2], z)
    pixels = K.project(points)
    assert pixels.shape == (5, 7, 2)
    np.testing.assert_allclose(pixels[..., 0], u, atol=1e-9)
    np.testing.assert_allclose(pixels[..., 1], v, atol=1e-9)


def test_point_cloud_of_constant_depth() -> None:
    cam = CameraIntrinsics(fx=100.0, fy=50.0, cx=1.0, cy=0.5, width=4, height=3)
    cloud = cam.point_cloud(np.full((3, 4), 0.5))
    assert cloud.shape == (3, 4, 3)
    for v in range(3):
        for u in range(4):
            expected = [(u - 1.0) * 0.5 / 100.0, (v - 0.5) * 0.5 / 50.0, 0.5]
            np.testing.assert_allclose(cloud[v, u], expected, atol=1e-12)


def test_point_cloud_keeps_nan_where_depth_is_nan() -> None:
    depth = np.full((3, 4), 1.0)
    depth[1, 2] = np.nan
    cloud = K.point_cloud(depth)
    assert np.isnan(cloud[1, 2]).all()
    assert np.isfinite(np.delete(cloud.reshape(-1, 3), 1 * 4 + 2, axis=0)).all()


def test_d435_intrinsics_are_for_640x480() -> None:
    assert (D435_COLOR_640X480.width, D435_COLOR_640X480.height) == (640, 480)
    assert 0 < D435_COLOR_640X480.cx < 640 and 0 < D435_COLOR_640X480.cy < 480


# --- patch_depth ----------------------------------------------------------------------------


def test_patch_depth_is_the_median_of_valid_pixels() -> None:
    depth = np.full((7, 7), 9.0)
    depth[2:5, 2:5] = [
        [0.50, 0.00, 0.52],
        [np.nan, 0.54, 0.90],
        [0.00, 1.00, np.inf],
    ]
    # Valid: 0.50, 0.52, 0.54, 0.90, 1.00 -> median 0.54 (the mean would be 0.692).
    assert patch_depth(depth, 3.0, 3.0, 1) == pytest.approx(0.54)
    # Radius 0: only the centre pixel.
    assert patch_depth(depth, 3.0, 3.0, 0) == pytest.approx(0.54)
    # Centre rounds to the nearest pixel: (3.4, 2.6) -> (3, 3).
    assert patch_depth(depth, 3.4, 2.6, 1) == pytest.approx(0.54)


def test_patch_depth_even_count_and_image_corner() -> None:
    depth = np.full((5, 5), 7.0)
    depth[0:2, 0:2] = [[0.2, 0.4], [0.0, 0.9]]
    # Radius 1 at (0, 0) is clipped to the 2x2 corner: valid 0.2, 0.4, 0.9 -> 0.4.
    assert patch_depth(depth, 0.0, 0.0, 1) == pytest.approx(0.4)
    depth[1, 0] = 0.6
    # Four values 0.2, 0.4, 0.6, 0.9 -> median (0.4 + 0.6) / 2.
    assert patch_depth(depth, 0.0, 0.0, 1) == pytest.approx(0.5)
    # Bottom-right corner: 7.0 everywhere.
    assert patch_depth(depth, 4.0, 4.0, 2) == pytest.approx(7.0)


def test_patch_without_valid_depth_is_an_input_error() -> None:
    depth = np.full((7, 7), 0.8)
    depth[1:6, 1:6] = 0.0
    depth[3, 3] = np.nan
    with pytest.raises(InputError, match="no valid depth"):
        patch_depth(depth, 3.0, 3.0, 2)
    # One pixel further out, the 0.8 m border is in reach.
    assert patch_depth(depth, 3.0, 3.0, 3) == pytest.approx(0.8)


@pytest.mark.parametrize(("u", "v"), [(-1.0, 3.0), (3.0, -0.6), (7.0, 3.0), (3.0, 6.6), (99, 99)])
def test_centre_outside_the_image_is_an_input_error(u: float, v: float) -> None:
    with pytest.raises(InputError, match="outside"):
        patch_depth(np.full((6, 7), 0.5), u, v, 3)


# --- grasp_pose_in_camera -------------------------------------------------------------------


def test_grasp_at_principal_point_angle_zero() -> None:
    grasp = ImageGrasp(32.0, 24.0, 0.0, width=30.0, jaw_length=10.0, quality=0.8)
    pose = grasp_pose_in_camera(grasp, flat(0.6), K, grasp_depth_m=0.02)
    np.testing.assert_allclose(pose.position, [0.0, 0.0, 0.62], atol=1e-12)
    np.testing.assert_allclose(pose.rotation[:, 0], [1, 0, 0], atol=1e-12)  # closing axis
    np.testing.assert_allclose(pose.rotation[:, 1], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pose.rotation[:, 2], [0, 0, 1], atol=1e-12)  # approach
    # 30 px along u at 0.6 m with fx = 600: 30 * 0.6 / 600 = 0.03 m.
    assert pose.width == pytest.approx(0.03)
    assert pose.quality == pytest.approx(0.8)
    assert pose.frame == "camera_optical"


def test_off_centre_grasp_is_backprojected_at_the_surface_and_pushed_along_z() -> None:
    grasp = ImageGrasp(42.0, 14.0, 0.0, width=30.0, jaw_length=10.0)
    pose = grasp_pose_in_camera(grasp, flat(0.6), K, grasp_depth_m=0.05)
    # x = (42 - 32) * 0.6 / 600 = 0.01, y = (14 - 24) * 0.6 / 500 = -0.012 (at the surface),
    # then 0.05 m further along the optical axis.
    np.testing.assert_allclose(pose.position, [0.01, -0.012, 0.65], atol=1e-9)


def test_depth_comes_from_the_patch_median_ignoring_holes() -> None:
    depth = flat(0.6)
    depth[24, 32] = 0.0  # hole at the centre
    depth[23, 31] = 5.0  # one flying pixel
    grasp = ImageGrasp(32.0, 24.0, 0.0, width=30.0, jaw_length=10.0)
    pose = grasp_pose_in_camera(grasp, depth, K, grasp_depth_m=0.0, patch_radius_px=2)
    assert pose.position[2] == pytest.approx(0.6)


def test_grasp_outside_the_depth_image_is_an_input_error() -> None:
    with pytest.raises(InputError):
        grasp_pose_in_camera(ImageGrasp(64.0, 10.0, 0.0, 5.0, 2.0), flat(), K, 0.02)


def test_angle_sixty_degrees_points_up_right() -> None:
    # 60 deg counter-clockwise on screen: the closing axis goes right and up in the image,
    # i.e. +x and -y in the optical frame: (cos 60, -sin 60, 0).
    grasp = ImageGrasp(32.0, 24.0, math.pi / 3, width=30.0, jaw_length=10.0)
    pose = grasp_pose_in_camera(grasp, flat(0.6), K, 0.02)
    np.testing.assert_allclose(pose.rotation[:, 0], [0.5, -math.sqrt(3) / 2, 0], atol=1e-12)
    np.testing.assert_allclose(pose.rotation[:, 2], [0, 0, 1], atol=1e-12)
    # y = z x x = (sin 60, cos 60, 0).
    np.testing.assert_allclose(pose.rotation[:, 1], [math.sqrt(3) / 2, 0.5, 0], atol=1e-12)
    # The 30 px opening spans 15 px along u and 25.98 px along v.
    expected = math.hypot(15.0 * 0.6 / 600, 30 * math.sqrt(3) / 2 * 0.6 / 500)
    assert pose.width == pytest.approx(expected)


def test_angle_half_turn_up_is_the_optical_y_axis() -> None:
    # +pi/2 (pointing up in the image, optical -y). ImageGrasp keeps angles in
    # [-pi/2, pi/2), so +pi/2 is stored as -pi/2: the same parallel-jaw grasp, whose
    # closing axis may come out as (0, -1, 0) or (0, +1, 0).
    grasp = ImageGrasp(32.0, 24.0, math.pi / 2, width=30.0, jaw_length=10.0)
    pose = grasp_pose_in_camera(grasp, flat(0.6), K, 0.02)
    x = pose.rotation[:, 0]
    np.testing.assert_allclose(np.abs(x), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pose.rotation[:, 2], [0, 0, 1], atol=1e-12)
    # Just below +pi/2 the sign is not ambiguous: nearly (0, -1, 0).
    almost = ImageGrasp(32.0, 24.0, math.pi / 2 - 1e-3, width=30.0, jaw_length=10.0)
    x = grasp_pose_in_camera(almost, flat(0.6), K, 0.02).rotation[:, 0]
    np.testing.assert_allclose(x, [math.sin(1e-3), -math.cos(1e-3), 0], atol=1e-12)
    # Along v the opening is measured with fy: 30 * 0.6 / 500 = 0.036 m.
    assert pose.width == pytest.approx(0.036)


@settings(max_examples=60, deadline=None)
@given(
    angle=st.floats(-math.pi, math.pi, allow_nan=False),
    u=st.floats(0, 63),
    v=st.floats(0, 47),
    z=st.floats(0.2, 3.0),
)
def test_rotation_is_a_proper_rotation_with_the_image_closing_axis(
    angle: float, u: float, v: float, z: float
) -> None:
    grasp = ImageGrasp(u, v, angle, width=20.0, jaw_length=5.0)
    pose = grasp_pose_in_camera(grasp, flat(z), K, 0.01)
    r = pose.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(r[:, 2], [0, 0, 1], atol=1e-12)
    # Closing axis (cos a, -sin a, 0) up to a half turn (a parallel-jaw grasp is symmetric).
    axis = np.array([math.cos(angle), -math.sin(angle), 0.0])
    assert abs(float(r[:, 0] @ axis)) == pytest.approx(1.0, abs=1e-9)
    assert pose.position[2] == pytest.approx(z + 0.01)
    assert pose.width > 0


# --- GraspPose ------------------------------------------------------------------------------

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _transform(rotation: np.ndarray, translation) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = rotation, translation
    return t


def test_matrix_is_the_homogeneous_transform() -> None:
    pose = GraspPose(np.array([0.1, 0.2, 0.3]), RZ90, 0.04, 0.9)
    m = pose.matrix()
    np.testing.assert_array_equal(m[:3, :3], RZ90)
    np.testing.assert_array_equal(m[:3, 3], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(m[3], [0, 0, 0, 1])


def test_transformed_by_a_quarter_turn_about_z_and_a_shift() -> None:
    pose = GraspPose(np.array([0.1, 0.2, 0.3]), np.eye(3), width=0.04, quality=0.9)
    moved = pose.transformed(_transform(RZ90, [1.0, 2.0, 3.0]), "world")
    # Rz90 maps (x, y, z) -> (-y, x, z): (0.1, 0.2, 0.3) -> (-0.2, 0.1, 0.3), plus the shift.
    np.testing.assert_allclose(moved.position, [0.8, 2.1, 3.3], atol=1e-12)
    np.testing.assert_allclose(moved.rotation, RZ90, atol=1e-12)
    assert (moved.width, moved.quality, moved.frame) == (0.04, 0.9, "world")
    # The original is left alone.
    np.testing.assert_array_equal(pose.position, [0.1, 0.2, 0.3])
    assert pose.frame == "camera_optical"


def test_transformed_rotates_the_gripper_axes() -> None:
    grasp = ImageGrasp(32.0, 24.0, math.pi / 3, width=30.0, jaw_length=10.0)
    pose = grasp_pose_in_camera(grasp, flat(0.6), K, 0.02)  # at (0, 0, 0.62)
    # Camera looking straight down from 1 m: optical z -> world -z, optical x -> world x,
    # optical y -> world -y (a half turn about x).
    down = _transform(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 1.0])
    world = pose.transformed(down, "world")
    np.testing.assert_allclose(world.position, [0.0, 0.0, 0.38], atol=1e-12)
    np.testing.assert_allclose(world.rotation[:, 0], [0.5, math.sqrt(3) / 2, 0], atol=1e-12)
    np.testing.assert_allclose(world.rotation[:, 2], [0, 0, -1], atol=1e-12)  # approach down
    # Then a quarter turn about z: (x, y, z) -> (-y, x, z).
    turned = world.transformed(_transform(RZ90, [0, 0, 0]), "other")
    np.testing.assert_allclose(turned.rotation[:, 0], [-math.sqrt(3) / 2, 0.5, 0], atol=1e-12)
    np.testing.assert_allclose(turned.position, [0.0, 0.0, 0.38], atol=1e-12)
