"""The rectangle metric, its instance-wise variant, IoU-Avg and the evaluation over images."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grasp_core.grasp import ImageGrasp
from grasp_core.metrics import (
    ANGLE_THRESHOLDS_DEG,
    IOU_THRESHOLDS,
    RectangleMetric,
    accuracy_key,
    evaluate,
    iou_avg,
)

# Shifting a 20 x 10 px rectangle by (5, 2.5) px leaves a 15 x 7.5 px overlap:
# IoU = 112.5 / (200 + 200 - 112.5) = 9/23 ~ 0.391.
SHIFTED_IOU = 9 / 23


def rect(u=0.0, v=0.0, width=20.0, jaw=10.0, deg=0.0, quality=1.0, label="", instance=-1):
    return ImageGrasp(u, v, math.radians(deg), width, jaw, quality, instance, label)


def square_turn_iou(deg: float) -> float:
    """IoU of a 2 x 2 square and itself turned by deg (0..90) about its centre: each of the
    four corners loses a triangle with legs (s + c - 1) / s and (s + c - 1) / c."""
    s, c = math.sin(math.radians(deg)), math.cos(math.radians(deg))
    inter = 4 - 2 * (s + c - 1) ** 2 / (s * c)
    return inter / (8 - inter)


def test_square_turn_reference_at_45_degrees():
    assert square_turn_iou(45) == pytest.approx(1 / math.sqrt(2))


# --- rectangle metric ---------------------------------------------------------------------


def test_angle_threshold_is_strict_and_configurable():
    gt = rect(width=10.0, jaw=10.0)
    default = RectangleMetric()
    # A square stays a big overlap when turned, so the angle alone decides.
    assert default.matches(rect(width=10.0, jaw=10.0, deg=29), [gt])
    assert not default.matches(rect(width=10.0, jaw=10.0, deg=31), [gt])
    assert not default.matches(rect(width=10.0, jaw=10.0, deg=-31), [gt])
    assert RectangleMetric(angle_threshold_rad=math.radians(35)).matches(
        rect(width=10.0, jaw=10.0, deg=31), [gt]
    )
    assert not RectangleMetric(angle_threshold_rad=math.radians(25)).matches(
        rect(width=10.0, jaw=10.0, deg=29), [gt]
    )


def test_angle_is_compared_modulo_a_half_turn():
    # 80 and -80 deg are 20 deg apart across the +-90 deg seam.
    assert RectangleMetric().matches(rect(jaw=20.0, deg=-80), [rect(jaw=20.0, deg=80)])


def test_iou_threshold():
    gt = rect(width=4.0, jaw=2.0)
    # Shift d along the width: IoU = (4 - d) / (4 + d).
    assert RectangleMetric().matches(rect(2.3, 0.0, 4.0, 2.0), [gt])  # 0.270
    assert not RectangleMetric().matches(rect(2.5, 0.0, 4.0, 2.0), [gt])  # 0.231
    shifted = rect(5.0, 2.5)
    assert RectangleMetric(iou_threshold=0.30).matches(shifted, [rect()])
    assert not RectangleMetric(iou_threshold=0.50).matches(shifted, [rect()])


def test_any_ground_truth_is_enough():
    pred = rect(100.0, 100.0, deg=10)
    misses = [rect(), rect(100.0, 100.0, deg=70)]
    assert not RectangleMetric().matches(pred, misses)
    assert RectangleMetric().matches(pred, [*misses, rect(102.0, 100.0)])
    assert not RectangleMetric().matches(pred, [])


def test_instance_wise_metric_needs_the_label_but_not_the_instance_id():
    gt = rect(label="mug", instance=3)
    agnostic, wise = RectangleMetric(), RectangleMetric(instance_wise=True)
    assert agnostic.matches(rect(label="bowl"), [gt])
    assert not wise.matches(rect(label="bowl"), [gt])
    assert not wise.matches(rect(), [gt])
    assert wise.matches(rect(label="mug", instance=3), [gt])
    # A model numbers its own detections: ids are not the annotation's.
    assert wise.matches(rect(label="mug", instance=0), [gt])
    assert wise.matches(rect(label="mug"), [rect(label="bowl"), gt])


@st.composite
def grasps(draw) -> ImageGrasp:
    return ImageGrasp(
        u=draw(st.floats(-300, 300)),
        v=draw(st.floats(-300, 300)),
        angle=draw(st.floats(-10, 10)),
        width=draw(st.floats(1, 100)),
        jaw_length=draw(st.floats(1, 100)),
    )


@settings(max_examples=200, deadline=None)
@given(grasp=grasps())
def test_a_half_turned_grasp_matches_itself_everywhere_on_the_grid(grasp):
    turned = ImageGrasp(grasp.u, grasp.v, grasp.angle + math.pi, grasp.width, grasp.jaw_length)
    assert RectangleMetric(0.75, math.radians(5)).matches(turned, [grasp])
    assert RectangleMetric(instance_wise=True).matches(turned, [grasp])
    assert iou_avg(turned, [grasp]) == pytest.approx(1.0, abs=1e-9)
    result = evaluate([[turned]], [[grasp]])
    assert set(result.accuracy.values()) == {1.0}


# --- IoU-Avg ------------------------------------------------------------------------------


def test_iou_avg_takes_the_best_iou_within_the_angle_threshold():
    assert iou_avg(rect(), [rect()]) == pytest.approx(1.0)
    assert iou_avg(rect(5.0, 2.5), [rect()]) == pytest.approx(SHIFTED_IOU)
    # A better overlap 40 deg off does not count; [-1, 1]² and [-0.5, 1.5] x [-0.25, 0.75]
    # (same angle) overlap in 1.5 px²: IoU 1.5 / (4 + 2 - 1.5).
    square = rect(width=2.0, jaw=2.0)
    assert square_turn_iou(40) > 1 / 3
    assert iou_avg(square, [rect(width=2.0, jaw=2.0, deg=40), rect(0.5, 0.25, 2.0, 1.0)]) == (
        pytest.approx(1 / 3)
    )
    assert iou_avg(square, [rect(width=2.0, jaw=2.0, deg=12)]) == pytest.approx(square_turn_iou(12))
    assert iou_avg(square, [rect(width=2.0, jaw=2.0, deg=40)]) == 0.0
    assert iou_avg(square, [rect(width=2.0, jaw=2.0, deg=40)], math.radians(45)) == (
        pytest.approx(square_turn_iou(40))
    )
    assert iou_avg(square, []) == 0.0
    assert iou_avg(rect(), [rect(100.0, 0.0)]) == 0.0


def test_instance_wise_iou_avg_ignores_other_classes():
    pred = rect(label="mug")
    gts = [rect(label="bowl"), rect(5.0, 2.5, label="mug")]
    assert iou_avg(pred, gts) == pytest.approx(1.0)
    assert iou_avg(pred, gts, instance_wise=True) == pytest.approx(SHIFTED_IOU)


# --- evaluate -----------------------------------------------------------------------------


def hand_made_set():
    """Five images; what each scores is written next to it."""
    predictions = [
        [rect(50.0, 50.0, quality=0.9)],  # exact: passes everywhere, IoU 1
        [rect(5.0, 2.5)],  # IoU 9/23, same angle: passes IoU 0.25 and 0.30 only
        [],  # nothing predicted: fails, IoU 0
        [rect(width=2.0, jaw=2.0, deg=12)],  # square 12 deg off: passes >= 15 deg
        [rect(200.0, 0.0, quality=0.9), rect(quality=0.5)],  # only the 2nd best is right
    ]
    ground_truths = [
        [rect(50.0, 50.0, label="cup")],
        [rect(label="cup")],
        [rect(label="box")],
        [rect(width=2.0, jaw=2.0, label="box")],
        [rect(label="cup")],
    ]
    return predictions, ground_truths


def test_evaluate_on_a_hand_made_set():
    predictions, ground_truths = hand_made_set()
    result = evaluate(predictions, ground_truths)
    assert result.num_images == 5
    assert square_turn_iou(12) > 0.75  # so image 3 passes every IoU threshold
    expected = {
        accuracy_key(iou, deg): (1 + (iou < SHIFTED_IOU) + (deg > 12)) / 5
        for iou in IOU_THRESHOLDS
        for deg in ANGLE_THRESHOLDS_DEG
    }
    assert result.accuracy == pytest.approx(expected)
    assert result.accuracy["rect_acc_25_30"] == pytest.approx(0.6)
    assert result.accuracy["rect_acc_50_30"] == pytest.approx(0.4)
    assert result.accuracy["rect_acc_25_10"] == pytest.approx(0.4)
    assert result.accuracy["rect_acc_75_5"] == pytest.approx(0.2)
    assert result.iou_avg == pytest.approx((1 + SHIFTED_IOU + square_turn_iou(12)) / 5)
    assert result.per_class == pytest.approx({"cup": 2 / 3, "box": 1 / 2})


def test_evaluate_looks_at_the_top_k_predictions():
    predictions, ground_truths = hand_made_set()
    result = evaluate(predictions, ground_truths, top_k=2)
    assert result.accuracy["rect_acc_25_30"] == pytest.approx(0.8)
    assert result.accuracy["rect_acc_75_5"] == pytest.approx(0.4)
    assert result.iou_avg == pytest.approx((2 + SHIFTED_IOU + square_turn_iou(12)) / 5)
    assert result.per_class == pytest.approx({"cup": 1.0, "box": 1 / 2})


def test_evaluate_keys_are_the_whole_grid():
    predictions, ground_truths = hand_made_set()
    keys = set(evaluate(predictions, ground_truths).accuracy)
    assert len(keys) == 24
    assert {"rect_acc_25_30", "rect_acc_30_25", "rect_acc_50_20", "rect_acc_75_5"} <= keys


def test_instance_wise_evaluation_scores_each_class_with_its_own_best_grasp():
    cup, box = rect(label="cup"), rect(300.0, 0.0, label="box")
    predictions = [[rect(label="box", quality=0.9), rect(label="cup", quality=0.5)]]
    agnostic = evaluate(predictions, [[cup, box]])
    wise = evaluate(predictions, [[cup, box]], instance_wise=True)
    # Best prediction lies on the cup but calls it a box.
    assert agnostic.accuracy["rect_acc_25_30"] == 1.0
    assert wise.accuracy["rect_acc_25_30"] == 0.0
    assert agnostic.iou_avg == pytest.approx(1.0)
    assert wise.iou_avg == 0.0
    assert agnostic.per_class == {"box": 0.0, "cup": 1.0}
    # Per class, the best grasp labelled cup is scored for the cup.
    assert wise.per_class == {"box": 0.0, "cup": 1.0}
    assert evaluate(predictions, [[cup, box]], top_k=2, instance_wise=True).accuracy[
        "rect_acc_25_30"
    ] == (1.0)


def test_class_agnostic_per_class_is_the_accuracy():
    rng = np.random.default_rng(7)

    def random_grasp():
        return ImageGrasp(*rng.uniform(0, 100, 2), rng.uniform(-2, 2), *rng.uniform(10, 40, 2))

    predictions = [[random_grasp() for _ in range(3)] for _ in range(40)]
    ground_truths = [[random_grasp() for _ in range(8)] for _ in range(40)]
    result = evaluate(predictions, ground_truths, top_k=3)
    assert 0.0 < result.accuracy["rect_acc_25_30"] < 1.0
    assert result.per_class == {"": result.accuracy["rect_acc_25_30"]}
    for i, (preds, gts) in enumerate(zip(predictions, ground_truths, strict=True)):
        one = evaluate([preds], [gts], top_k=3)
        assert one.accuracy["rect_acc_25_30"] == float(
            any(RectangleMetric().matches(p, gts) for p in preds)
        ), i
        assert one.iou_avg == pytest.approx(max(iou_avg(p, gts) for p in preds))


def test_evaluate_rejects_bad_input():
    with pytest.raises(ValueError, match="no images"):
        evaluate([], [])
    with pytest.raises(ValueError, match="2 prediction lists for 1"):
        evaluate([[], []], [[]])
    with pytest.raises(ValueError, match="top_k"):
        evaluate([[]], [[]], top_k=0)
