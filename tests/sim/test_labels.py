"""Dense grasp labels (002): the right grasps on shapes whose answer is known."""

from __future__ import annotations

import math

import numpy as np

from grasp_core.camera import D435_COLOR_640X480 as K
from grasp_core.geometry import angle_difference
from grasp_core.gripper import DEFAULT_GRIPPER
from grasp_sim.labels import label_grasps
from grasp_sim.objects import Part
from tests.sim.tables import OVERHEAD, single_object_scene


def _labels(part: Part, yaw: float = 0.0):
    scene = single_object_scene(part, yaw)
    frame = scene.render(OVERHEAD)
    grasps = label_grasps(frame.depth, frame.instance_mask, K, {1: "box"})
    return grasps, frame, scene


def _image_angle(world_axis: np.ndarray) -> float:
    """Screen-CCW angle of a horizontal world direction seen by the overhead camera."""
    x, y, _ = OVERHEAD.rotation.T @ world_axis
    return math.atan2(-y, x)


def test_a_box_is_grasped_across_its_narrow_side_only() -> None:
    yaw = 0.3
    grasps, frame, _ = _labels(Part("box", (0.05, 0.02, 0.03)), yaw)
    assert len(grasps) > 20
    narrow_axis = np.array([-math.sin(yaw), math.cos(yaw), 0.0])  # the box's 4 cm side
    expected = _image_angle(narrow_axis)
    off = np.abs(angle_difference(np.array([g.angle for g in grasps]), expected))
    # Force closure admits closing axes up to arctan(mu) = 11.3 deg off the face normal;
    # 2 deg more for the face fit on a 1.5 mm grid.
    assert off.max() < math.atan(0.2) + math.radians(2)
    # Most grasps sit in the angle bin nearest the normal (10 deg bins: within 5 deg).
    assert np.mean(off < math.radians(5.5)) > 0.5
    top_z = 0.6 - 0.06
    widths_m = np.array([g.width for g in grasps]) * top_z / K.fx
    # A closing axis tilted by phi meets the 4 cm side over 4 cm / cos(phi), and the
    # finger's width sweeps finger_width * tan(phi) more; the opening adds the tolerance.
    finger = DEFAULT_GRIPPER.finger_width
    expected_m = 0.04 / np.cos(off) + finger * np.tan(off) + DEFAULT_GRIPPER.width_tolerance
    np.testing.assert_allclose(widths_m, expected_m, atol=0.004)  # 1.5 mm grid per side
    assert {(g.instance_id, g.label) for g in grasps} == {(1, "box")}
    for g in grasps:
        assert frame.instance_mask[round(g.v), round(g.u)] == 1


def test_nothing_wider_than_the_gripper_is_labelled() -> None:
    grasps, _, _ = _labels(Part("box", (0.06, 0.05, 0.02)))  # 12 x 10 cm > 8.5 cm opening
    assert grasps == []


def test_a_sphere_is_grasped_only_through_its_centre() -> None:
    radius = 0.03
    grasps, _frame, scene = _labels(Part("sphere", (radius,)))
    assert grasps
    centre = scene.object_positions()[0]
    world_to_camera = np.linalg.inv(OVERHEAD.matrix())
    u0, v0 = K.project(world_to_camera[:3, :3] @ centre + world_to_camera[:3, 3])
    offsets_m = np.hypot([g.u - u0 for g in grasps], [g.v - v0 for g in grasps]) * 0.6 / K.fx
    # Off-centre contacts tilt the surface normals away from the closing axis; mu = 0.2
    # allows offsets of about mu * r = 6 mm (plus the label grid's few mm).
    assert offsets_m.max() < 0.2 * radius + 0.004


def test_labelled_grasps_stay_inside_the_image() -> None:
    grasps, frame, _ = _labels(Part("cylinder", (0.025, 0.05)), yaw=1.0)
    h, w = frame.depth.shape
    assert grasps
    assert all(0 <= g.u < w and 0 <= g.v < h for g in grasps)
