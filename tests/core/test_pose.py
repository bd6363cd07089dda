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
from grasp_core.gripper import GripperSpec
from grasp_core.pose import (
    GraspPose,
    TransformSettings,
    fits_gripper,
    grasp_pose_in_camera,
    grasp_poses_in_camera,
    grasps_in_base,
    patch_depth,
    patch_depths,
)
from grasp_core.preprocess import InputError
from grasp_core.workspace import Workspace

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


# --- table-normal approach ------------------------------------------------------------------

# A square-pixel camera, so that the optical and the table-normal approach agree when the
# camera looks straight down.
SQUARE = CameraIntrinsics(fx=500.0, fy=500.0, cx=32.0, cy=24.0, width=64, height=48)


def _look_down(height: float) -> np.ndarray:
    """T_base_optical of a camera at (0, 0, height) m looking straight down (optical z = -z)."""
    return _transform(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, height])


def _tilted_camera() -> np.ndarray:
    """T_base_optical of a camera at (0, -0.4, 0.6) m pitched 40 deg from straight down."""
    tilt = math.radians(40.0)
    # Optical axes in the base frame: x along +x, z forward and down towards +y.
    z = np.array([0.0, math.sin(tilt), -math.cos(tilt)])
    x = np.array([1.0, 0.0, 0.0])
    return _transform(np.column_stack([x, np.cross(z, x), z]), [0.0, -0.4, 0.6])


def _table_depth(camera: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Depth image (m) of the table plane z = 0 seen from camera (T_base_optical)."""
    v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width]
    rays = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy,
                     np.ones(u.shape)], axis=-1)  # fmt: skip
    # Optical depth t: camera_z + t * (R r)_z = 0.
    return -camera[2, 3] / (rays @ camera[:3, :3].T)[..., 2]


def _table_point(camera: np.ndarray, intrinsics: CameraIntrinsics, u: float, v: float):
    """Where the pixel ray (u, v) meets the table z = 0, base frame, m (ray casting)."""
    ray = camera[:3, :3] @ np.array([(u - intrinsics.cx) / intrinsics.fx,
                                     (v - intrinsics.cy) / intrinsics.fy, 1.0])  # fmt: skip
    return camera[:3, 3] + ray * (-camera[2, 3] / ray[2])


def test_table_normal_equals_optical_approach_when_looking_straight_down() -> None:
    camera = _look_down(0.6)
    depth = np.full((SQUARE.height, SQUARE.width), 0.6)
    up = camera[2, :3]
    for angle in (-1.2, 0.0, 0.4, 1.5):
        grasp = ImageGrasp(40.0, 20.0, angle, width=30.0, jaw_length=10.0)
        optical = grasp_pose_in_camera(grasp, depth, SQUARE, 0.02)
        table = grasp_pose_in_camera(grasp, depth, SQUARE, 0.02, approach="table_normal", up=up)
        np.testing.assert_allclose(table.position, optical.position, atol=1e-12)
        np.testing.assert_allclose(table.rotation, optical.rotation, atol=1e-12)
        assert table.width == pytest.approx(optical.width)


@pytest.mark.parametrize("angle", [0.0, 0.7, -1.1, math.pi / 2 - 0.01])
def test_table_normal_on_a_tilted_camera_matches_ray_casting(angle: float) -> None:
    camera = _tilted_camera()
    depth = _table_depth(camera, SQUARE)
    grasp = ImageGrasp(30.0, 26.0, angle, width=12.0, jaw_length=4.0, quality=0.7)
    pose = grasp_pose_in_camera(grasp, depth, SQUARE, grasp_depth_m=0.01, patch_radius_px=0,
                                approach="table_normal", up=camera[2, :3])  # fmt: skip
    base = pose.transformed(camera, "base_link")
    # Approach straight down, the origin 1 cm below the table point under the grasp pixel.
    np.testing.assert_allclose(base.rotation[:, 2], [0, 0, -1], atol=1e-9)
    centre = _table_point(camera, SQUARE, 30.0, 26.0)
    np.testing.assert_allclose(base.position, centre + np.array([0, 0, -0.01]), atol=1e-9)
    # The jaws' ends: rays through the ends of the 12 px opening, cast onto the table.
    c, s = math.cos(grasp.angle), math.sin(grasp.angle)
    end_a = _table_point(camera, SQUARE, 30.0 + 6 * c, 26.0 - 6 * s)
    end_b = _table_point(camera, SQUARE, 30.0 - 6 * c, 26.0 + 6 * s)
    assert base.width == pytest.approx(np.linalg.norm(end_a - end_b), rel=1e-9)
    # The closing axis is the tangent of that line at the centre; for a line on a plane it
    # is the line's own direction (the two ends are symmetric in the image only).
    along = (end_a - end_b) / np.linalg.norm(end_a - end_b)
    assert abs(float(base.rotation[:, 0] @ along)) == pytest.approx(1.0, abs=1e-9)
    r = base.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_table_normal_needs_a_unit_up_vector() -> None:
    grasp = ImageGrasp(32.0, 24.0, 0.0, width=30.0, jaw_length=10.0)
    with pytest.raises(ValueError, match="up"):
        grasp_pose_in_camera(grasp, flat(), K, 0.02, approach="table_normal")
    with pytest.raises(ValueError, match="up"):
        grasp_pose_in_camera(grasp, flat(), K, 0.02, approach="table_normal", up=np.ones(3))
    with pytest.raises(ValueError, match="approach"):
        grasp_pose_in_camera(grasp, flat(), K, 0.02, approach="sideways")  # type: ignore[arg-type]


def test_closing_line_that_misses_the_table_is_refused() -> None:
    # The camera looks horizontally (optical z = base +y), so the table normal is the optical
    # -y axis and the horizon is the row v = cy = 24. An upright opening from v = 12 to 32
    # crosses it: one jaw's ray never meets the plane of the grasped point.
    camera = _transform(np.column_stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), [0, 0, 0.5])
    up = camera[2, :3]
    np.testing.assert_allclose(up, [0, -1, 0])
    straddling = ImageGrasp(32.0, 22.0, -math.pi / 2, width=20.0, jaw_length=4.0)
    with pytest.raises(InputError, match="table plane"):
        grasp_pose_in_camera(straddling, flat(), K, 0.02, approach="table_normal", up=up)
    below = ImageGrasp(32.0, 40.0, -math.pi / 2, width=20.0, jaw_length=4.0)
    pose = grasp_pose_in_camera(below, flat(), K, 0.02, approach="table_normal", up=up)
    np.testing.assert_allclose(pose.rotation[:, 2], [0, 1, 0], atol=1e-12)


# --- many grasps at once --------------------------------------------------------------------


def _naive_patch_median(depth: np.ndarray, u: float, v: float, r: int) -> float:
    iu, iv = round(u), round(v)
    values = [
        depth[y, x]
        for y in range(iv - r, iv + r + 1)
        for x in range(iu - r, iu + r + 1)
        if 0 <= y < depth.shape[0] and 0 <= x < depth.shape[1]
        and np.isfinite(depth[y, x]) and depth[y, x] > 0
    ]  # fmt: skip
    return float(np.median(values)) if values else math.nan


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_patch_depths_match_a_pixel_by_pixel_median(dtype: type) -> None:
    rng = np.random.default_rng(7)
    depth = rng.uniform(0.3, 1.5, (48, 64)).astype(dtype)
    depth[rng.random(depth.shape) < 0.3] = 0.0
    depth[rng.random(depth.shape) < 0.1] = np.nan
    depth[10:20, 10:20] = 0.0  # a hole wider than a patch
    u = np.concatenate([rng.uniform(-0.4, 63.4, 200), [15.0, 0.0, 63.0]])
    v = np.concatenate([rng.uniform(-0.4, 47.4, 200), [15.0, 47.0, 0.0]])
    for radius in (0, 2, 3):
        got = patch_depths(depth, u, v, radius)
        expected = [_naive_patch_median(depth, a, b, radius) for a, b in zip(u, v, strict=True)]
        np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert np.isnan(patch_depths(depth, np.array([15.0]), np.array([15.0]), 3)[0])


@pytest.mark.parametrize("approach", ["camera", "table_normal"])
def test_many_grasps_at_once_equal_one_at_a_time(approach: str) -> None:
    rng = np.random.default_rng(11)
    camera = _tilted_camera()
    depth = _table_depth(camera, K)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    depth[30:40, 5:15] = np.nan
    grasps = [
        ImageGrasp(rng.uniform(-5, 70), rng.uniform(-5, 52), rng.uniform(-2, 2),
                   rng.uniform(0, 40), 5.0, quality=rng.uniform())
        for _ in range(60)
    ] + [ImageGrasp(10.0, 35.0, 0.0, 10.0, 5.0)]  # fmt: skip
    up = camera[2, :3]
    poses, reasons = grasp_poses_in_camera(grasps, depth, K, 0.02, 2, approach, up)  # type: ignore[arg-type]
    assert len(poses) == len(reasons) == len(grasps)
    assert reasons[-1].startswith("no valid depth")
    assert any(r.startswith("grasp centre") for r in reasons) and reasons.count("") > 20
    for i, grasp in enumerate(grasps):
        if reasons[i]:
            with pytest.raises(InputError, match=reasons[i].split(" ")[0]):
                grasp_pose_in_camera(grasp, depth, K, 0.02, 2, approach, up)  # type: ignore[arg-type]
            assert np.isnan(poses.positions[i]).all()
            continue
        one = grasp_pose_in_camera(grasp, depth, K, 0.02, 2, approach, up)  # type: ignore[arg-type]
        np.testing.assert_allclose(poses.positions[i], one.position, atol=1e-12)
        np.testing.assert_allclose(poses.rotations[i], one.rotation, atol=1e-12)
        assert poses.widths[i] == pytest.approx(one.width, rel=1e-12)
        assert poses.qualities[i] == grasp.quality


def test_depth_and_camera_info_of_different_sizes_are_an_input_error() -> None:
    with pytest.raises(InputError, match="camera_info"):
        grasp_poses_in_camera([ImageGrasp(3.0, 3.0, 0.0, 5.0, 2.0)], np.ones((24, 32)), K, 0.02)


def test_grasp_poses_transformed_equal_each_pose_transformed() -> None:
    grasps = [ImageGrasp(20.0 + 5 * i, 20.0, 0.3 * i, 20.0, 5.0, quality=0.1 * i) for i in range(4)]
    poses, _ = grasp_poses_in_camera(grasps, flat(0.5), K, 0.02)
    moved = poses.transformed(_tilted_camera(), "base_link")
    assert moved.frame == "base_link"
    for i in range(4):
        expected = poses.pose(i).transformed(_tilted_camera(), "base_link")
        got = moved.pose(i)
        np.testing.assert_allclose(got.matrix(), expected.matrix(), atol=1e-12)
        assert (got.width, got.quality, got.frame) == (
            expected.width,
            expected.quality,
            "base_link",
        )


# --- checks: gripper, workspace, quality ----------------------------------------------------


def test_fits_gripper_takes_widths_as_openings_with_their_clearance() -> None:
    gripper = GripperSpec(max_opening=0.085, width_tolerance=0.005)
    np.testing.assert_array_equal(
        fits_gripper(np.array([0.0, 0.080, 0.084, 0.085, 0.0851, 0.2]), gripper),
        [True, True, True, True, False, False],
    )


def test_grasps_in_base_keeps_checked_grasps_best_first_and_says_why_others_go() -> None:
    camera = _look_down(0.6)  # table at z = 0 with depth 0.6 m everywhere
    depth = np.full((SQUARE.height, SQUARE.width), 0.6)
    depth[0:10, 0:10] = np.nan
    settings = TransformSettings(
        workspace=Workspace(np.array([-0.02, -0.02, -0.05]), np.array([0.05, 0.05, 0.3])),
        grasp_depth_m=0.01, patch_radius_px=1, min_quality=0.3,
    )  # fmt: skip
    grasps = [
        ImageGrasp(32.0, 24.0, 0.0, 40.0, 5.0, quality=0.5),  # 40 px * 0.6 / 500 = 0.048 m
        ImageGrasp(40.0, 20.0, 0.5, 20.0, 5.0, quality=0.9),  # at x = 0.0096, y = 0.0048 m
        ImageGrasp(32.0, 24.0, 0.0, 80.0, 5.0, quality=0.95),  # 0.096 m: wider than 0.085
        ImageGrasp(63.0, 24.0, 0.0, 20.0, 5.0, quality=0.8),  # x = 0.0372 m (in)
        ImageGrasp(32.0, 47.0, 0.0, 20.0, 5.0, quality=0.8),  # y = -0.0276 m: outside
        ImageGrasp(5.0, 5.0, 0.0, 20.0, 5.0, quality=0.99),  # in the hole
        ImageGrasp(20.0, 24.0, 0.0, 20.0, 5.0, quality=0.1),  # below min_quality
        ImageGrasp(99.0, 24.0, 0.0, 20.0, 5.0, quality=0.99),  # off the image
    ]
    result = grasps_in_base(grasps, depth, SQUARE, camera, settings, "base_link")
    assert result.indices.tolist() == [1, 3, 0]
    np.testing.assert_allclose(result.poses.qualities, [0.9, 0.8, 0.5])
    assert result.poses.frame == "base_link"
    np.testing.assert_allclose(result.poses.positions[0], [0.0096, 0.0048, -0.01], atol=1e-12)
    np.testing.assert_allclose(result.poses.rotations[:, :, 2], [[0, 0, -1]] * 3, atol=1e-12)
    assert result.poses.widths[2] == pytest.approx(0.048)
    reasons = dict(result.dropped)
    assert sorted(reasons) == [2, 4, 5, 6, 7]
    assert "exceeds the gripper" in reasons[2] and "0.096" in reasons[2]
    assert "outside the workspace" in reasons[4]
    assert "no valid depth" in reasons[5]
    assert "below min_quality" in reasons[6]
    assert "outside the depth image" in reasons[7]


def test_grasps_in_base_of_no_grasps_is_empty() -> None:
    settings = TransformSettings(Workspace(np.zeros(3), np.ones(3)))
    result = grasps_in_base([], flat(), K, _look_down(0.6), settings)
    assert len(result.poses) == 0 and result.indices.size == 0 and result.dropped == ()


def test_raw_millimetre_depth_with_its_scale_equals_depth_in_metres() -> None:
    rng = np.random.default_rng(5)
    mm = rng.integers(400, 900, (K.height, K.width)).astype(np.uint16)
    mm[rng.random(mm.shape) < 0.3] = 0  # 16UC1: 0 = no measurement
    metres = np.where(mm > 0, mm / 1000.0, np.nan)
    grasps = [ImageGrasp(rng.uniform(0, 63), rng.uniform(0, 47), 0.3, 20.0, 5.0) for _ in range(30)]
    raw, raw_reasons = grasp_poses_in_camera(grasps, mm, K, 0.02, 2, depth_scale_m=0.001)
    ref, ref_reasons = grasp_poses_in_camera(grasps, metres, K, 0.02, 2)
    assert raw_reasons == ref_reasons
    np.testing.assert_allclose(raw.positions, ref.positions, atol=1e-12)
    np.testing.assert_allclose(raw.widths, ref.widths, atol=1e-12)


def test_grasps_below_the_workspace_floor_are_backed_off_along_their_approach() -> None:
    from grasp_core.pose import GraspPoses, raise_to_floor

    down = np.diag([1.0, -1.0, -1.0])  # approach straight down
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted = np.array([[1.0, 0, 0], [0, c, s], [0, -s, c]]) @ down  # 30° off vertical
    sideways = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # approach along +y
    poses = GraspPoses(
        positions=np.array([[0.5, 0.0, -0.01], [0.5, 0.0, -0.01], [0.5, 0.0, 0.03],
                            [0.5, 0.0, -0.01]]),
        rotations=np.stack([down, tilted, down, sideways]),
        widths=np.full(4, 0.04), qualities=np.full(4, 0.9), frame="base_link",
    )  # fmt: skip
    raised = raise_to_floor(poses, floor_z=0.005)
    assert np.allclose(raised.positions[0], [0.5, 0.0, 0.005])
    # The tilted grasp moves back up its own approach line by 1.5 cm / cos 30°.
    back = raised.positions[1] - poses.positions[1]
    assert np.isclose(raised.positions[1, 2], 0.005)
    assert np.allclose(back / np.linalg.norm(back), -tilted[:, 2])
    assert np.isclose(np.linalg.norm(back), 0.015 / c)
    assert np.allclose(raised.positions[2:], poses.positions[2:])  # above, or cannot rise
    assert np.array_equal(raised.rotations, poses.rotations)


def test_a_grasp_raised_to_the_floor_stays_inside_the_workspace() -> None:
    from grasp_core.pose import GraspPoses, raise_to_floor

    # A camera tilted off vertical gives approach axes whose back-off lands on the floor
    # only up to rounding; seen in the table-clean bench with this very pose.
    approach = np.array([0.0464, -0.0057, -0.9989])
    approach /= np.linalg.norm(approach)
    closing = np.cross([0.0, 1.0, 0.0], approach)
    closing /= np.linalg.norm(closing)
    rotation = np.stack([closing, np.cross(approach, closing), approach], -1)
    workspace = Workspace(np.array([0.15, -0.55, 0.005]), np.array([0.85, 0.55, 0.7]))
    depths = np.linspace(-0.03, 0.004, 200)
    poses = GraspPoses(
        positions=np.stack([np.full(200, 0.434), np.full(200, -0.123), depths], -1),
        rotations=np.repeat(rotation[None], 200, 0), widths=np.full(200, 0.04),
        qualities=np.full(200, 0.9), frame="base_link",
    )  # fmt: skip
    raised = raise_to_floor(poses, floor_z=0.005)
    assert workspace.contains(raised.positions).all()


def test_grasps_slightly_wider_than_the_gripper_are_kept_at_its_max_opening() -> None:
    camera = _look_down(0.6)
    depth = np.full((SQUARE.height, SQUARE.width), 0.6)
    settings = TransformSettings(
        workspace=Workspace(np.array([-0.1, -0.1, -0.05]), np.array([0.1, 0.1, 0.3])),
        width_margin_m=0.01,
    )
    grasps = [
        ImageGrasp(32.0, 24.0, 0.0, 75.0, 5.0, quality=0.9),  # 75 px * 0.6 / 500 = 0.090 m
        ImageGrasp(32.0, 24.0, 0.0, 80.0, 5.0, quality=0.8),  # 0.096 m: beyond the margin
        ImageGrasp(32.0, 24.0, 0.0, 50.0, 5.0, quality=0.7),  # 0.060 m
    ]
    result = grasps_in_base(grasps, depth, SQUARE, camera, settings, "base_link")
    assert result.indices.tolist() == [0, 2]
    np.testing.assert_allclose(result.poses.widths, [0.085, 0.060], atol=1e-9)
    assert result.dropped == (
        (1, "width 0.096 m exceeds the gripper's 0.085 m by more than 0.010 m"),
    )


def test_transform_settings_take_the_node_parameters_they_name_and_defaults_otherwise():
    workspace = Workspace(np.zeros(3), np.ones(3))
    gripper = GripperSpec(max_opening=0.07)
    parameters = {"grasp_depth_m": 0.04, "approach": "table_normal", "max_turn_rad": 0.0,
                  "base_frame": "", "depth_buffer": 30}  # fmt: skip
    settings = TransformSettings.from_parameters(parameters, workspace, gripper)
    assert (settings.grasp_depth_m, settings.approach, settings.max_turn_rad) == (
        0.04, "table_normal", 0.0,
    )  # fmt: skip
    assert settings.workspace is workspace and settings.gripper is gripper
    assert settings.patch_radius_px == TransformSettings(workspace).patch_radius_px
