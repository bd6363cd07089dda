"""Grasp rectangles: corners, rotated IoU, angle distance, NMS, and ImageGrasp.scaled."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grasp_core.geometry import (
    angle_difference,
    corners_from_params,
    corners_to_grasp,
    grasp_nms,
    grasp_to_corners,
    grasps_to_array,
    paired_iou,
    rect_iou,
    rect_iou_matrix,
)
from grasp_core.grasp import ImageGrasp

coords = st.floats(-500, 500)
angles = st.floats(-10, 10)
lengths = st.floats(0.5, 200)


@st.composite
def grasps(draw, max_offset: float = 500.0) -> ImageGrasp:
    return ImageGrasp(
        u=draw(st.floats(-max_offset, max_offset)),
        v=draw(st.floats(-max_offset, max_offset)),
        angle=draw(angles),
        width=draw(lengths),
        jaw_length=draw(lengths),
    )


def same_up_to_half_turn(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Corner lists of one rectangle: equal, or equal after the half turn (shift by two)."""
    return np.allclose(a, b, rtol=0, atol=tol) or np.allclose(
        np.roll(a, 2, axis=0), b, rtol=0, atol=tol
    )


def box(u: float, v: float, width: float, jaw: float, angle: float = 0.0) -> ImageGrasp:
    return ImageGrasp(u=u, v=v, angle=angle, width=width, jaw_length=jaw)


# --- corners ------------------------------------------------------------------------------


def test_axis_aligned_corners_run_along_the_closing_axis_first():
    corners = grasp_to_corners(box(10.0, 20.0, width=6.0, jaw=4.0))
    np.testing.assert_allclose(corners, [[7, 18], [13, 18], [13, 22], [7, 22]], atol=1e-12)


def test_corners_follow_the_screen_counter_clockwise_angle():
    # 30 deg counter-clockwise on screen: the closing axis points right and up (-v).
    corners = grasp_to_corners(box(0.0, 0.0, width=10.0, jaw=2.0, angle=math.radians(30)))
    np.testing.assert_allclose(corners[1] - corners[0], [10 * math.sqrt(3) / 2, -5.0])
    np.testing.assert_allclose(corners[2] - corners[1], [1.0, math.sqrt(3)])
    # A vertical closing axis: +-pi/2 are one grasp; the width side runs along v.
    vertical = grasp_to_corners(box(0.0, 0.0, width=6.0, jaw=4.0, angle=math.pi / 2))
    np.testing.assert_allclose(vertical, [[2, -3], [2, 3], [-2, 3], [-2, -3]], atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(grasp=grasps())
def test_corners_go_clockwise_on_screen_and_span_the_area(grasp):
    p = grasp_to_corners(grasp)
    shoelace = 0.5 * sum(
        p[i, 0] * p[(i + 1) % 4, 1] - p[(i + 1) % 4, 0] * p[i, 1] for i in range(4)
    )
    assert shoelace == pytest.approx(grasp.width * grasp.jaw_length, rel=1e-9)
    assert np.linalg.norm(p[1] - p[0]) == pytest.approx(grasp.width, rel=1e-9)
    assert np.linalg.norm(p[2] - p[1]) == pytest.approx(grasp.jaw_length, rel=1e-9)


def test_vectorised_corners_match_the_single_grasp_ones():
    gs = [box(1.0, 2.0, 3.0, 4.0, 0.5), box(-7.0, 9.0, 12.0, 1.0, -1.2)]
    many = corners_from_params(*grasps_to_array(gs).T)
    assert many.shape == (2, 4, 2)
    for corners, grasp in zip(many, gs, strict=True):
        np.testing.assert_array_equal(corners, grasp_to_corners(grasp))
    # Scalars broadcast against arrays.
    assert corners_from_params(0.0, 0.0, [0.0, 0.1, 0.2], 5.0, 2.0).shape == (3, 4, 2)


def test_cornell_style_corner_list_gives_its_grasp():
    grasp = corners_to_grasp(np.array([[0, 0], [10, 0], [10, 4], [0, 4]]), quality=0.7, label="x")
    assert (grasp.u, grasp.v, grasp.angle, grasp.width, grasp.jaw_length) == (5, 2, 0, 10, 4)
    assert (grasp.quality, grasp.label) == (0.7, "x")
    # First edge straight up the screen (-v): angle +pi/2, kept as -pi/2.
    up = corners_to_grasp(np.array([[0, 0], [0, -10], [4, -10], [4, 0]]))
    assert (up.u, up.v, up.angle, up.width, up.jaw_length) == (2, -5, -math.pi / 2, 10, 4)


def test_corners_to_grasp_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        corners_to_grasp(np.zeros((5, 2)))


@settings(max_examples=200, deadline=None)
@given(grasp=grasps())
def test_grasp_corners_round_trip(grasp):
    back = corners_to_grasp(grasp_to_corners(grasp))
    assert (back.u, back.v) == pytest.approx((grasp.u, grasp.v), abs=1e-9)
    assert (back.width, back.jaw_length) == pytest.approx((grasp.width, grasp.jaw_length), rel=1e-9)
    assert angle_difference(back.angle, grasp.angle) < 1e-9
    assert same_up_to_half_turn(grasp_to_corners(back), grasp_to_corners(grasp), 1e-9)


@settings(max_examples=200, deadline=None)
@given(grasp=grasps())
def test_a_half_turn_is_the_same_grasp(grasp):
    turned = ImageGrasp(grasp.u, grasp.v, grasp.angle + math.pi, grasp.width, grasp.jaw_length)
    assert same_up_to_half_turn(grasp_to_corners(turned), grasp_to_corners(grasp), 1e-9)
    assert rect_iou(turned, grasp) == pytest.approx(1.0, abs=1e-9)


# --- IoU ----------------------------------------------------------------------------------


def test_iou_of_overlapping_axis_aligned_rectangles():
    # [-2, 2] x [-1, 1] and [-1, 3] x [-0.5, 1.5] overlap in 3 x 1.5 px.
    a, b = box(0.0, 0.0, 4.0, 2.0), box(1.0, 0.5, 4.0, 2.0)
    assert rect_iou(a, b) == pytest.approx(4.5 / (8 + 8 - 4.5), rel=1e-12)


def test_iou_of_a_square_and_its_45_degree_turn():
    # The overlap is the square less four corner triangles with legs 2 - sqrt 2:
    # 8 sqrt 2 - 8 px², so IoU = (8 sqrt 2 - 8) / (16 - 8 sqrt 2) = 1 / sqrt 2.
    square = box(3.0, -4.0, 2.0, 2.0)
    turned = box(3.0, -4.0, 2.0, 2.0, math.pi / 4)
    assert rect_iou(square, turned) == pytest.approx(1 / math.sqrt(2), rel=1e-12)


def test_iou_of_a_quarter_turn():
    # A square turned by 90 deg about its centre is the same square; a 4 x 2 rectangle
    # turned so makes a cross whose overlap is the 2 x 2 middle.
    assert rect_iou(box(5.0, 5.0, 3.0, 3.0), box(5.0, 5.0, 3.0, 3.0, math.pi / 2)) == (
        pytest.approx(1.0, abs=1e-12)
    )
    cross = rect_iou(box(0.0, 0.0, 4.0, 2.0, 0.3), box(0.0, 0.0, 4.0, 2.0, 0.3 + math.pi / 2))
    assert cross == pytest.approx(4 / (8 + 8 - 4), rel=1e-12)


def test_iou_of_nested_disjoint_touching_and_empty_rectangles():
    big = box(0.0, 0.0, 10.0, 10.0)
    assert rect_iou(big, big) == pytest.approx(1.0, abs=1e-12)
    assert rect_iou(big, box(1.0, -2.0, 2.0, 2.0, 0.7)) == pytest.approx(4 / 100, rel=1e-12)
    assert rect_iou(big, box(30.0, 0.0, 10.0, 10.0)) == 0.0
    # Sharing an edge: the overlap has no area.
    assert rect_iou(big, box(10.0, 0.0, 10.0, 10.0)) == pytest.approx(0.0, abs=1e-9)
    # Bounding circles overlap but the rectangles do not.
    assert rect_iou(box(0.0, 0.0, 10.0, 1.0), box(0.0, 3.0, 10.0, 1.0)) == 0.0
    flat = box(0.0, 0.0, 10.0, 0.0)
    assert rect_iou(flat, flat) == 0.0
    assert rect_iou(flat, big) == 0.0
    inverted = box(0.0, 0.0, -10.0, -10.0)
    assert rect_iou(inverted, inverted) == 0.0


def clipped_area(subject: np.ndarray, clip: np.ndarray) -> float:
    """Overlap area, px², of two convex polygons by Sutherland-Hodgman clipping: an
    algorithm independent of geometry.py's. Both polygons have positive shoelace area."""

    def side(p, a, b):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    poly = list(subject)
    for a, b in zip(clip, np.roll(clip, -1, axis=0), strict=True):
        out = []
        for p, q in zip(poly, poly[1:] + poly[:1], strict=True):
            sp, sq = side(p, a, b), side(q, a, b)
            if sp >= 0:
                out.append(p)
            if (sp >= 0) != (sq >= 0):
                out.append(p + (q - p) * sp / (sp - sq))
        poly = out
        if not poly:
            return 0.0
    x, y = np.array(poly).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@settings(max_examples=200, deadline=None)
@given(a=grasps(max_offset=60.0), b=grasps(max_offset=60.0))
def test_iou_is_symmetric_bounded_and_agrees_with_polygon_clipping(a, b):
    iou = rect_iou(a, b)
    assert 0.0 <= iou <= 1.0
    assert rect_iou(b, a) == pytest.approx(iou, abs=1e-9)
    inter = clipped_area(grasp_to_corners(a), grasp_to_corners(b))
    union = a.width * a.jaw_length + b.width * b.jaw_length - inter
    # geometry.py counts points within ~1e-9 relative of an edge as on it.
    assert iou == pytest.approx(inter / union, abs=1e-7)


def test_the_clipping_reference_itself():
    square = grasp_to_corners(box(0.0, 0.0, 2.0, 2.0))
    assert clipped_area(square, square) == pytest.approx(4.0)
    assert clipped_area(square, square + np.array([1.0, 1.0])) == pytest.approx(1.0)
    assert clipped_area(square, square + np.array([5.0, 0.0])) == 0.0


def test_iou_matrix_is_every_pair():
    preds = [box(0.0, 0.0, 4.0, 2.0), box(50.0, 0.0, 4.0, 2.0), box(0.0, 0.0, 2.0, 2.0, 0.5)]
    gts = [box(1.0, 0.5, 4.0, 2.0), box(0.0, 0.0, 4.0, 2.0)]
    matrix = rect_iou_matrix(preds, gts)
    assert matrix.shape == (3, 2)
    for i, p in enumerate(preds):
        for j, g in enumerate(gts):
            assert matrix[i, j] == rect_iou(p, g)
    assert matrix[0, 1] == pytest.approx(1.0) and matrix[1, 0] == 0.0
    assert rect_iou_matrix([], gts).shape == (0, 2)
    assert rect_iou_matrix(preds, []).shape == (3, 0)
    assert paired_iou(np.empty((0, 5)), np.empty((0, 5))).shape == (0,)


# --- angles -------------------------------------------------------------------------------


def test_angle_difference_is_taken_modulo_a_half_turn():
    assert angle_difference(0.1, 0.1 + math.pi) == pytest.approx(0.0, abs=1e-12)
    assert angle_difference(-1.5, 1.5) == pytest.approx(math.pi - 3.0, abs=1e-12)
    assert angle_difference(0.0, math.pi / 2) == pytest.approx(math.pi / 2)
    assert angle_difference(math.radians(80), math.radians(-80)) == pytest.approx(math.radians(20))
    assert isinstance(angle_difference(0.2, 0.3), float)
    np.testing.assert_allclose(
        angle_difference(np.array([0.0, 1.0, 3.0]), 0.0), [0.0, 1.0, math.pi - 3.0]
    )


@settings(max_examples=200, deadline=None)
@given(a=angles, b=angles)
def test_angle_difference_is_symmetric_and_in_range(a, b):
    d = angle_difference(a, b)
    assert 0.0 <= d <= math.pi / 2
    assert angle_difference(b, a) == pytest.approx(d, abs=1e-9)
    assert angle_difference(a + math.pi, b) == pytest.approx(d, abs=1e-9)


# --- NMS ----------------------------------------------------------------------------------


def graded(grasp: ImageGrasp, quality: float) -> ImageGrasp:
    return ImageGrasp(grasp.u, grasp.v, grasp.angle, grasp.width, grasp.jaw_length, quality)


def test_nms_keeps_the_best_of_duplicates_and_the_distinct_ones():
    best = graded(box(0.0, 0.0, 20.0, 10.0), 0.9)
    # IoU 9/23 with best and the same angle: the metric's duplicate.
    shifted = graded(box(5.0, 2.5, 20.0, 10.0), 0.8)
    # The same square but turned by 40 deg: overlaps a lot, yet a different grasp.
    square = graded(box(100.0, 0.0, 10.0, 10.0), 0.7)
    turned = graded(box(100.0, 0.0, 10.0, 10.0, math.radians(40)), 0.6)
    far = graded(box(300.0, 0.0, 20.0, 10.0), 0.5)
    kept = grasp_nms([far, turned, shifted, square, best], k=10)
    assert kept == [best, square, turned, far]
    assert grasp_nms([far, turned, shifted, square, best], k=2) == [best, square]
    assert grasp_nms([best], k=0) == []
    assert grasp_nms([], k=3) == []


def test_nms_distance_rule_and_ties():
    a = graded(box(0.0, 0.0, 4.0, 2.0), 0.5)
    b = graded(box(0.0, 8.0, 4.0, 2.0), 0.5)  # disjoint, 8 px away
    assert grasp_nms([a, b], k=5) == [a, b]
    assert grasp_nms([b, a], k=5) == [b, a]
    assert grasp_nms([a, b], k=5, min_distance_px=8.5) == [a]
    assert grasp_nms([a, b], k=5, min_distance_px=8.0) == [a, b]


def test_nms_thresholds_are_parameters():
    a = graded(box(0.0, 0.0, 20.0, 10.0), 0.9)
    b = graded(box(5.0, 2.5, 20.0, 10.0), 0.8)  # IoU 9/23 ~ 0.39
    assert grasp_nms([a, b], k=5, iou_threshold=0.4) == [a, b]
    assert grasp_nms([a, b], k=5, angle_threshold_rad=0.0) == [a, b]
    with pytest.raises(ValueError, match="k must be"):
        grasp_nms([a], k=-1)


# --- ImageGrasp.scaled --------------------------------------------------------------------


def test_anisotropic_scaling_by_hand():
    # 45 deg, u doubled: the closing axis (1, -1)/sqrt 2 maps to (sqrt 2, -1/sqrt 2),
    # 45 deg -> atan(1/2), length factor sqrt(5/2); the area doubles.
    grasp = ImageGrasp(u=1.0, v=2.0, angle=math.pi / 4, width=10.0, jaw_length=4.0)
    out = grasp.scaled(2.0, 1.0, 3.0, -1.0)
    assert (out.u, out.v) == pytest.approx((5.0, 1.0))
    assert out.angle == pytest.approx(math.atan(0.5))
    assert out.width == pytest.approx(10.0 * math.sqrt(2.5))
    assert out.jaw_length == pytest.approx(2 * 4.0 / math.sqrt(2.5))
    assert out.width * out.jaw_length == pytest.approx(2 * 10.0 * 4.0)


@settings(max_examples=200, deadline=None)
@given(
    grasp=grasps(),
    sx=st.floats(0.1, 10) | st.floats(-10, -0.1),
    sy=st.floats(0.1, 10) | st.floats(-10, -0.1),
    du=coords,
    dv=coords,
)
def test_scaling_is_invertible_and_scales_the_area(grasp, sx, sy, du, dv):
    out = grasp.scaled(sx, sy, du, dv)
    assert out.width * out.jaw_length == pytest.approx(
        abs(sx * sy) * grasp.width * grasp.jaw_length, rel=1e-9
    )
    back = out.scaled(1 / sx, 1 / sy, -du / sx, -dv / sy)
    assert (back.u, back.v) == pytest.approx((grasp.u, grasp.v), abs=1e-9 * (1 + abs(du) + abs(dv)))
    assert (back.width, back.jaw_length) == pytest.approx((grasp.width, grasp.jaw_length), rel=1e-9)
    assert angle_difference(back.angle, grasp.angle) < 1e-9
