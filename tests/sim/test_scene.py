"""The simulated table renders what a calibrated pinhole camera would see."""

from __future__ import annotations

import cv2
import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_sim.objects import Part, sample_objects
from grasp_sim.scene import TableScene, look_at, sample_camera_pose
from tests.sim.tables import single_object_scene


def _red_spheres(points: list[tuple[float, float, float]]) -> str:
    return "".join(
        f'<body pos="{x} {y} {z}"><geom type="sphere" size="0.008" rgba="1 0 0 1" '
        'contype="0" conaffinity="0"/></body>'
        for x, y, z in points
    )


def test_rendered_points_land_where_the_intrinsics_project_them() -> None:
    # An off-centre principal point and unequal focal lengths catch sign and axis errors.
    k = CameraIntrinsics(fx=600.0, fy=560.0, cx=300.0, cy=260.0, width=640, height=480)
    points = [(0.1, 0.05, 0.05), (-0.12, 0.08, 0.02), (0.0, -0.1, 0.1)]
    scene = TableScene([], np.random.default_rng(0), k, _red_spheres(points))
    camera = look_at(np.array([0.1, -0.2, 0.6]), np.zeros(3), roll=0.3)
    frame = scene.render(camera)
    red = (frame.rgb[..., 0] > 150) & (frame.rgb[..., 1] < 80)
    count, blobs = cv2.connectedComponents(red.astype(np.uint8))
    world_to_camera = np.linalg.inv(camera.matrix())
    expected = [k.project(world_to_camera[:3, :3] @ p + world_to_camera[:3, 3]) for p in points]
    assert count - 1 == len(points)
    for blob in range(1, count):
        v, u = np.nonzero(blobs == blob)
        nearest = min(np.linalg.norm(e - (u.mean(), v.mean())) for e in expected)
        assert nearest < 1.5  # px; a sphere's image centre is offset slightly by perspective


def test_depth_is_distance_along_the_optical_axis(overhead) -> None:
    scene = TableScene([], np.random.default_rng(0), _k())
    frame = scene.render(overhead)
    # A flat table 0.6 m below an overhead camera: 0.6 m everywhere, corners included
    # (a range image would read 1/cos larger there).
    np.testing.assert_allclose(frame.depth, 0.6, atol=1e-3)
    assert (frame.instance_mask == 0).all()


def test_instance_mask_marks_the_object_and_depth_its_top(overhead) -> None:
    scene = single_object_scene(Part("box", (0.03, 0.02, 0.025)))
    frame = scene.render(overhead)
    # Its 6 x 4 cm top face, 0.55 m from the camera, in px^2.
    top_area = 0.06 * 0.04 * (615.4 / 0.55) ** 2
    assert 0.93 < (frame.instance_mask == 1).sum() / top_area < 1.07
    np.testing.assert_allclose(np.median(frame.depth[frame.instance_mask == 1]), 0.55, atol=2e-3)
    assert scene.on_table().all()


def test_dropped_objects_come_to_rest_on_the_table() -> None:
    rng = np.random.default_rng(3)
    scene = TableScene(sample_objects(rng, 6, "seen"), rng, _k())
    scene.settle()
    assert scene.on_table().all()
    assert np.abs(scene.data.qvel).max() < 0.05


def test_the_same_seed_renders_the_same_table() -> None:
    def depth(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        scene = TableScene(sample_objects(rng, 4, "seen"), rng, _k())
        scene.settle()
        return scene.render(sample_camera_pose(rng)).depth

    np.testing.assert_array_equal(depth(5), depth(5))
    assert not np.array_equal(depth(5), depth(6))


def test_camera_poses_look_at_the_table_from_above() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        pose = sample_camera_pose(rng)
        axis = pose.rotation[:, 2]
        elevation = np.degrees(np.arcsin(-axis[2]))
        assert 44.9 <= elevation <= 90.0
        assert 0.49 <= np.linalg.norm(pose.position) <= 0.8
        np.testing.assert_allclose(pose.rotation.T @ pose.rotation, np.eye(3), atol=1e-9)
        assert np.linalg.det(pose.rotation) > 0


def _k() -> CameraIntrinsics:
    from grasp_core.camera import D435_COLOR_640X480

    return D435_COLOR_640X480
