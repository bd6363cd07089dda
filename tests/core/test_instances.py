"""grasp_core.instances and the SSG predictor on hand-built outputs with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from grasp_core.cli import main
from grasp_core.datasets import Sample
from grasp_core.datasets.generated import sample_name, write_info, write_sample
from grasp_core.grasp import ImageGrasp
from grasp_core.instances import (
    INSTANCE_OUTPUTS,
    InstanceParams,
    assemble,
    box_cells,
    box_iou,
    decode_boxes,
    decode_instances,
    encode_boxes,
    fast_nms,
    make_anchors,
)
from grasp_core.metadata import METADATA_KEY, AnchorSpec, MetadataError, ModelMetadata
from grasp_core.preprocess import InputError
from grasp_core.serving import GraspPredictor, InstancePredictor, open_predictor

SIZE = 64  # input px
STRIDE = 4  # input px per prototype cell
GRID = SIZE // STRIDE
CLASSES = ("bar", "cup")
SPEC = AnchorSpec(strides=(32,), sizes=(32.0,), aspect_ratios=(1.0,))
OBJECT_CELLS = slice(2, 8)  # rows and columns of the object on the prototype grid
PEAK_CELL = (4, 5)  # (row, column) of the quality peak inside the object
DECOY_CELL = (1, 1)  # a higher quality peak inside the box but outside the object
SCORE = 0.9
QUALITY_LOGIT = 4.0
WIDTH_LOGIT = -2.0


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def metadata() -> ModelMetadata:
    return ModelMetadata(
        architecture="ssg",
        input_size=(SIZE, SIZE),
        classes=CLASSES,
        prototypes=4,
        anchors=SPEC,
        width_scale=150.0,
    )


def outputs() -> dict[str, np.ndarray]:
    """One object of class 'bar' seen by anchor 0 (the top-left 32x32 px cell).

    Prototypes: 0 the object's cells, 1 the quality peak, 2 a constant, 3 the decoy peak.
    Coefficients of anchor 0: mask 20 p0 - 10 (about 1 on the object, 0 off it); quality
    8 p1 + 9 p3 - 4 (peak logit 4 at PEAK_CELL, 5 at the decoy); sin 2θ tanh(10) = 1 and
    cos 2θ tanh(0) = 0, i.e. θ = 45°; width sigmoid(-2) everywhere.
    """
    prototypes = np.zeros((GRID, GRID, 4), np.float32)
    prototypes[OBJECT_CELLS, OBJECT_CELLS, 0] = 1.0
    prototypes[(*PEAK_CELL, 1)] = 1.0
    prototypes[..., 2] = 1.0
    prototypes[(*DECOY_CELL, 3)] = 1.0
    coefficients = np.zeros((4, 5, 4), np.float32)
    coefficients[0, 0] = (20, 0, -10, 0)
    coefficients[0, 1] = (0, 8, -QUALITY_LOGIT, 9)
    coefficients[0, 2] = (0, 0, 10, 0)
    coefficients[0, 4] = (0, 0, WIDTH_LOGIT, 0)
    scores = np.tile(np.float32([0.99, 0.005, 0.005]), (4, 1))
    scores[0] = (1 - SCORE, SCORE - 0.02, 0.02)  # detection score SCORE, likeliest 'bar'
    return {
        "scores": scores,
        "boxes": np.zeros((4, 4), np.float32),
        "coefficients": coefficients,
        "prototypes": prototypes,
    }


def test_anchors_are_cell_centred_row_major_then_ratio() -> None:
    spec = AnchorSpec(strides=(32,), sizes=(16.0,), aspect_ratios=(1.0, 4.0))
    anchors = make_anchors((64, 96), spec)
    assert anchors.shape == (2 * 3 * 2, 4)
    # Cell (row 0, col 0) covers px 0..31: centre 15.5; ratio 4 keeps the area 16^2.
    np.testing.assert_allclose(anchors[0], (15.5, 15.5, 16, 16))
    np.testing.assert_allclose(anchors[1], (15.5, 15.5, 32, 8))
    np.testing.assert_allclose(anchors[2], (47.5, 15.5, 16, 16))
    np.testing.assert_allclose(anchors[6], (15.5, 47.5, 16, 16))


def test_box_offsets_round_trip_and_zero_offset_is_the_anchor() -> None:
    anchors = np.float32([[10, 20, 8, 16], [50, 50, 30, 10]])
    boxes = np.float32([[4, 10, 20, 40], [30, 45, 80, 52]])
    np.testing.assert_allclose(decode_boxes(encode_boxes(boxes, anchors), anchors), boxes, 1e-4)
    np.testing.assert_allclose(decode_boxes(np.zeros((2, 4)), anchors)[0], (6, 12, 14, 28))


def test_box_iou_of_half_overlapping_squares_is_a_third() -> None:
    iou = box_iou(np.float32([[0, 0, 10, 10]]), np.float32([[5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1 / 3, 0]])


def test_fast_nms_suppresses_overlaps_within_a_class_only() -> None:
    boxes = np.float32([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11], [40, 40, 50, 50]])
    scores = np.float32([0.6, 0.9, 0.8, 0.3])
    classes = np.array([0, 0, 1, 0])
    # Box 0 overlaps the better box 1 of its class (IoU 9/11); box 2 is of another class.
    assert fast_nms(boxes, scores, classes, iou=0.5).tolist() == [1, 2, 3]
    assert fast_nms(boxes, scores, classes, iou=0.9).tolist() == [1, 2, 0, 3]


def test_assemble_applies_sigmoid_and_tanh_per_set() -> None:
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(3, 5, 4)).astype(np.float32)
    coefficients = rng.normal(size=(2, 5, 4)).astype(np.float32)
    masks = assemble(prototypes, coefficients)
    linear = float(prototypes[1, 2] @ coefficients[1, 0])
    assert masks[1, 0, 1, 2] == pytest.approx(sigmoid(linear), abs=1e-6)
    sin_linear = float(prototypes[2, 4] @ coefficients[0, 2])
    assert masks[0, 2, 2, 4] == pytest.approx(math.tanh(sin_linear), abs=1e-6)
    cos_linear = float(prototypes[0, 0] @ coefficients[1, 3])
    assert masks[1, 3, 0, 0] == pytest.approx(math.tanh(cos_linear), abs=1e-6)


def test_grasp_is_the_quality_peak_inside_the_instance() -> None:
    anchors = make_anchors((SIZE, SIZE), SPEC)
    instances, grasps = decode_instances(outputs(), metadata(), anchors, InstanceParams())
    assert len(instances) == len(grasps) == 1
    g, inst = grasps[0], instances[0]
    row, col = PEAK_CELL
    # The centre of cell (row, col) in input px; the decoy peak lies outside the mask.
    assert (g.u, g.v) == pytest.approx(((col + 0.5) * STRIDE - 0.5, (row + 0.5) * STRIDE - 0.5))
    assert g.angle == pytest.approx(math.pi / 4, abs=1e-3)
    assert g.width == pytest.approx(150 * sigmoid(WIDTH_LOGIT), rel=1e-4)
    assert g.jaw_length == pytest.approx(g.width / 2)
    assert g.quality == pytest.approx(SCORE * sigmoid(QUALITY_LOGIT), rel=1e-4)
    assert (g.label, g.instance_id) == ("bar", 1)
    assert (inst.label, inst.instance_id, inst.score) == ("bar", 1, pytest.approx(SCORE))
    # Zero offsets give anchor 0, (-0.5, -0.5, 31.5, 31.5), clipped to the input.
    assert inst.box == pytest.approx((0, 0, 31.5, 31.5))
    assert (inst.mask.shape, inst.mask_stride) == ((GRID, GRID), STRIDE)
    assert inst.mask[OBJECT_CELLS, OBJECT_CELLS].all()
    assert inst.mask.sum() == 6 * 6  # the object's cells, all inside the box


def test_an_object_of_uncertain_class_is_detected_with_its_likeliest_class() -> None:
    # 60 % that anchor 0 holds an object, split 32 / 28 between the two classes: neither
    # class alone passes the threshold, the object does.
    o = outputs()
    o["scores"][0] = (0.4, 0.32, 0.28)
    anchors = make_anchors((SIZE, SIZE), SPEC)
    params = InstanceParams(score_threshold=0.5)
    instances, grasps = decode_instances(o, metadata(), anchors, params)
    assert [(i.label, i.score) for i in instances] == [("bar", pytest.approx(0.6))]
    assert grasps[0].quality == pytest.approx(0.6 * sigmoid(QUALITY_LOGIT), rel=1e-4)


def test_low_scores_give_no_detection() -> None:
    anchors = make_anchors((SIZE, SIZE), SPEC)
    params = InstanceParams(score_threshold=0.95)
    assert decode_instances(outputs(), metadata(), anchors, params) == ([], [])


def test_outputs_that_contradict_the_metadata_are_rejected() -> None:
    anchors = make_anchors((SIZE, SIZE), SPEC)
    bad = {**outputs(), "coefficients": np.zeros((4, 5, 3), np.float32)}
    with pytest.raises(InputError, match="coefficients"):
        decode_instances(bad, metadata(), anchors, InstanceParams())
    with pytest.raises(InputError, match="anchors"):
        decode_instances(outputs(), metadata(), anchors[:3], InstanceParams())
    with pytest.raises(ValueError, match="nms_iou"):
        InstanceParams(nms_iou=0.0)
    with pytest.raises(MetadataError, match="prototypes"):
        ModelMetadata(architecture="ssg", input_size=(SIZE, SIZE), classes=CLASSES)


def constant_ssg_model(path: Path) -> Path:
    """An ONNX model that ignores its input and returns outputs() with a batch axis."""
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    values = []
    for name, value in outputs().items():
        inits.append(numpy_helper.from_array(value[None], f"{name}_const"))
        shape = [1] * value.ndim
        inits.append(numpy_helper.from_array(np.array([-1, *shape], np.int64), f"{name}_shape"))
        nodes += [
            helper.make_node("Reshape", ["nothing", f"{name}_shape"], [f"{name}_zero"]),
            helper.make_node("Add", [f"{name}_const", f"{name}_zero"], [name]),
        ]
        values.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["B", *value.shape]))
    graph = helper.make_graph(
        nodes,
        "constant_ssg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 4, SIZE, SIZE])],
        values,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {METADATA_KEY: metadata().to_json()})
    onnx.save(model, path)
    return path


def image_px(coord: float, crop_start: float) -> float:
    """Input px -> px of a 640x480 image whose central 480x480 px are resized to SIZE."""
    return crop_start + (coord + 0.5) * 480 / SIZE - 0.5


@pytest.fixture(scope="module")
def ssg_file(tmp_path_factory) -> Path:
    return constant_ssg_model(tmp_path_factory.mktemp("ssg") / "ssg.onnx")


def frame() -> tuple[np.ndarray, np.ndarray]:
    return np.full((480, 640, 3), 128, np.uint8), np.full((480, 640), 700, np.uint16)


def expected_grasp(label: str) -> ImageGrasp:
    """The constant model's grasp in image px."""
    row, col = PEAK_CELL
    width = 150 * sigmoid(WIDTH_LOGIT) * 480 / SIZE
    return ImageGrasp(
        image_px((col + 0.5) * STRIDE - 0.5, 80),
        image_px((row + 0.5) * STRIDE - 0.5, 0),
        math.pi / 4,
        width,
        width / 2,
        instance_id=1,
        label=label,
    )


def test_open_predictor_serves_ssg_with_grasps_in_image_px(ssg_file) -> None:
    predictor = open_predictor(ssg_file, providers=["cpu"], threads=1)
    assert isinstance(predictor, InstancePredictor)
    prediction = predictor.predict(*frame())
    (g,) = prediction.grasps
    want = expected_grasp("bar")
    assert (g.u, g.v, g.angle, g.width) == pytest.approx(
        (want.u, want.v, want.angle, want.width), rel=1e-4
    )
    assert (g.label, g.instance_id) == ("bar", 1)
    assert prediction.instances[0].mask.sum() == 6 * 6
    with pytest.raises(MetadataError, match="InstancePredictor"):
        GraspPredictor(ssg_file, providers=["cpu"])
    with pytest.raises(InputError, match="depth"):
        predictor.predict(frame()[0], None)


def test_eval_instance_wise_fails_a_grasp_of_the_wrong_class(ssg_file, tmp_path, capsys) -> None:
    reports = {}
    for truth_label in CLASSES:
        root = tmp_path / truth_label
        write_info(root, {"classes": list(CLASSES)})
        rgb, depth = frame()
        mask = np.zeros((480, 640), np.int32)
        sample = Sample(
            sample_name(0),
            rgb,
            depth.astype(np.float32) / 1000,
            (expected_grasp(truth_label),),
            mask,
            {1: truth_label},
        )
        write_sample(root, sample, {})
        for flag in ([], ["--instance-wise"]):
            args = ["eval", "--model", str(ssg_file), "--data", str(root), "--json"]
            assert main([*args, "--out", str(tmp_path / "out"), *flag]) == 0
            reports[truth_label, bool(flag)] = json.loads(capsys.readouterr().out)
    assert reports["bar", True]["instance_acc"] == 1.0
    assert reports["cup", False]["rect_acc_25_30"] == 1.0
    assert reports["cup", True]["instance_acc"] == 0.0
    assert reports["cup", True]["per_class"] == {"cup": 0.0}
    assert "instance_acc" not in reports["cup", False]


def test_instance_outputs_are_the_graph_names(ssg_file) -> None:
    model = onnx.load(ssg_file)
    assert tuple(o.name for o in model.graph.output) == INSTANCE_OUTPUTS


def test_box_cells_hold_the_cells_whose_centres_are_inside() -> None:
    # Stride 4: cell j's centre is at 4 j + 1.5 px. (2, 2, 13, 6) holds centres 5.5 and 9.5
    # across (cells 1, 2) and 5.5 down (cell 1); (2.5, 2, 3, 3) holds none: cell 1.
    cells = box_cells(np.float32([[2, 2, 13, 6], [2.5, 2, 3, 3]]), (16, 16), 4.0)
    assert cells.tolist() == [[1, 2, 1, 3], [1, 2, 1, 2]]


def test_instance_image_maps_masks_back_to_camera_pixels_and_the_best_wins() -> None:
    from grasp_core.instances import Instance, instance_image
    from grasp_core.preprocess import CropResize

    # A 40x40 input from the 80x80 square at (20, 10) of a 100x120 image (2 image px per
    # input px), masks on a 10x10 grid of 4 input px cells (8 image px per cell).
    crop = CropResize(x0=20, y0=10, width=80, height=80, output_size=(40, 40))
    left = np.zeros((10, 10), bool)
    left[2:4, 1:3] = True  # cells rows 2-3, cols 1-2
    overlap = np.zeros((10, 10), bool)
    overlap[3, 2] = True
    instances = [
        Instance(1, "box", 0.9, (0, 0, 1, 1), left, 4.0),
        Instance(2, "mug", 0.5, (0, 0, 1, 1), overlap, 4.0),
    ]
    labels = instance_image(instances, crop, (100, 120))
    assert labels.dtype == np.uint16 and labels.shape == (100, 120)
    # Cell (row r, col c) covers image px u in [20 + 8c, 28 + 8c), v in [10 + 8r, 18 + 8r).
    expected = np.zeros((100, 120), np.uint16)
    expected[10 + 16 : 10 + 32, 20 + 8 : 20 + 24] = 1
    assert np.array_equal(labels, expected)  # the box (0.9) wins the shared cell over 0.5
    assert not labels[:10].any() and not labels[:, :20].any() and not labels[90:].any()
    assert not instance_image([], crop, (100, 120)).any()
