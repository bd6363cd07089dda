"""`grasp eval` and grasp_core.evaluation on a real ONNX model with a known top grasp.

constant_model's maps ignore the input: a single quality peak at input px (PEAK_U, PEAK_V)
= (40, 20), angle ANGLE = 30 deg and width map WIDTH_MAP = 0.25 everywhere, with width_scale
100 (grconvnet_metadata): 25 input px, jaw_length width / 2. On a 128x96 (WxH) frame the
predictor feeds the centred 96x96 crop (x0 = 16, y0 = 0) resized to 64x64, i.e. 1.5 image
px per input px, pixel centres on pixel centres: u = (40 + 0.5) * 1.5 - 0.5 + 16 = 76.25,
v = (20 + 0.5) * 1.5 - 0.5 = 30.25, width 37.5 px, jaw_length 18.75 px.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from constant_model import ANGLE, PEAK_U, PEAK_V, SIZE, WIDTH_MAP, constant_model
from constant_model import grconvnet_metadata as metadata

from grasp_core.cli import main
from grasp_core.datasets import Sample, open_dataset
from grasp_core.datasets.generated import write_info, write_sample
from grasp_core.evaluation import evaluate_model, write_worst
from grasp_core.grasp import ImageGrasp
from grasp_core.serving import GraspPredictor

H, W = 96, 128
SCALE = H / SIZE  # 1.5 image px per input px
X0 = (W - H) // 2  # 16
TOP_U = (PEAK_U + 0.5) * SCALE - 0.5 + X0
TOP_V = (PEAK_V + 0.5) * SCALE - 0.5
TOP_WIDTH = WIDTH_MAP * 100.0 * SCALE
TOP = ImageGrasp(TOP_U, TOP_V, ANGLE, TOP_WIDTH, TOP_WIDTH / 2, instance_id=1, label="mug")

# The top grasp slid 15 px along its own closing axis (cos a, -sin a): the rectangles
# overlap over width - 15 of their width, so IoU = (37.5 - 15) / (37.5 + 15) = 3 / 7.
SHIFT = 15.0
PARTIAL = ImageGrasp(
    TOP_U + SHIFT * math.cos(ANGLE),
    TOP_V - SHIFT * math.sin(ANGLE),
    ANGLE,
    TOP_WIDTH,
    TOP_WIDTH / 2,
    instance_id=1,
    label="mug",
)
PARTIAL_IOU = (TOP_WIDTH - SHIFT) / (TOP_WIDTH + SHIFT)
# Far from the top grasp (no overlap): IoU 0.
MISS = ImageGrasp(15.0, 80.0, 0.0, 20.0, 10.0, instance_id=2, label="bowl")
# At the top grasp but turned 90 deg: outside every angle threshold.
TURNED = ImageGrasp(TOP_U, TOP_V, ANGLE - math.pi / 2, TOP_WIDTH, TOP_WIDTH / 2)


def test_expected_top_grasp_by_hand() -> None:
    # The module docstring's numbers, so the constants above are the intended ones.
    assert (TOP_U, TOP_V, TOP_WIDTH) == (76.25, 30.25, 37.5)
    assert pytest.approx(3 / 7) == PARTIAL_IOU


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return constant_model(tmp_path_factory.mktemp("model") / "m.onnx", metadata())


@pytest.fixture(scope="module")
def predictor(model: Path) -> GraspPredictor:
    return GraspPredictor(model, threads=1, warmup_runs=0)


def write_dataset(root: Path, truths: list[tuple[ImageGrasp, ...]]) -> Path:
    """One 128x96 grey image at a flat 0.7 m per entry of truths, with those grasps."""
    write_info(root, {"classes": ["bowl", "mug"]})
    for index, grasps in enumerate(truths):
        rgb = np.full((H, W, 3), 90 + 40 * index, np.uint8)
        depth = np.full((H, W), 0.7, np.float32)
        sample = Sample(f"{index:06d}", rgb, depth, grasps, np.zeros((H, W), np.int32))
        write_sample(root, sample, {})
    return root


def test_the_predictor_top_grasp_is_the_hand_computed_one(
    predictor: GraspPredictor, tmp_path: Path
) -> None:
    sample = open_dataset(str(write_dataset(tmp_path / "d", [(TOP,)])))[0]
    best = predictor.predict(sample.rgb, sample.depth).grasps[0]
    assert best.u == pytest.approx(TOP_U, abs=1e-3)
    assert best.v == pytest.approx(TOP_V, abs=1e-3)
    assert best.angle == pytest.approx(ANGLE, abs=1e-5)
    assert best.width == pytest.approx(TOP_WIDTH, rel=1e-5)
    assert best.jaw_length == pytest.approx(TOP_WIDTH / 2, rel=1e-5)


@pytest.mark.parametrize(
    ("truth", "accuracy", "iou"),
    [((TOP,), 1.0, 1.0), ((MISS,), 0.0, 0.0), ((TURNED,), 0.0, 0.0), ((MISS, TOP), 1.0, 1.0)],
    ids=["match", "miss", "turned", "one-of-two"],
)
def test_evaluate_model_scores_one_image(
    predictor: GraspPredictor, tmp_path: Path, truth, accuracy: float, iou: float
) -> None:
    data = open_dataset(str(write_dataset(tmp_path / "d", [truth])))
    result, scores = evaluate_model(predictor, data)
    assert result.num_images == 1
    assert result.accuracy["rect_acc_25_30"] == accuracy
    assert result.accuracy["rect_acc_75_5"] == accuracy
    assert result.iou_avg == pytest.approx(iou, abs=1e-3)
    (score,) = scores
    assert score.name == "000000"
    assert score.iou == pytest.approx(iou, abs=1e-3)
    assert len(score.predicted) == 1
    assert score.predicted[0].u == pytest.approx(TOP_U, abs=1e-3)
    assert len(score.truth) == len(truth)


def test_partial_overlap_passes_low_iou_thresholds_only(
    predictor: GraspPredictor, tmp_path: Path
) -> None:
    data = open_dataset(str(write_dataset(tmp_path / "d", [(PARTIAL,)])))
    result, _ = evaluate_model(predictor, data)
    # IoU 3/7 = 0.43: above 0.25 and 0.30, below 0.50 and 0.75; angles identical.
    assert result.accuracy["rect_acc_25_30"] == 1.0
    assert result.accuracy["rect_acc_30_5"] == 1.0
    assert result.accuracy["rect_acc_50_30"] == 0.0
    assert result.accuracy["rect_acc_75_30"] == 0.0
    assert result.iou_avg == pytest.approx(PARTIAL_IOU, abs=1e-3)


def test_instance_wise_needs_the_label(predictor: GraspPredictor, tmp_path: Path) -> None:
    # The constant model predicts no class (label ''); the ground truth is a 'mug'.
    data = open_dataset(str(write_dataset(tmp_path / "d", [(TOP,)])))
    assert evaluate_model(predictor, data)[0].accuracy["rect_acc_25_30"] == 1.0
    result, scores = evaluate_model(predictor, data, instance_wise=True)
    assert result.accuracy["rect_acc_25_30"] == 0.0
    assert scores[0].iou == 0.0


def test_per_class_follows_the_ground_truth_labels(
    predictor: GraspPredictor, tmp_path: Path
) -> None:
    data = open_dataset(str(write_dataset(tmp_path / "d", [(TOP, MISS), (MISS,)])))
    result, _ = evaluate_model(predictor, data)
    # mug: annotated in image 0 only, where the top grasp is on it -> 1.0.
    # bowl: annotated in both images, never hit -> 0.0.
    assert result.per_class == {"bowl": 0.0, "mug": 1.0}
    assert result.accuracy["rect_acc_25_30"] == 0.5


def test_write_worst_orders_worst_first(predictor: GraspPredictor, tmp_path: Path) -> None:
    data = open_dataset(str(write_dataset(tmp_path / "d", [(TOP,), (MISS,), (PARTIAL,)])))
    result, scores = evaluate_model(predictor, data)
    assert [s.name for s in scores] == ["000000", "000001", "000002"]
    assert [s.iou for s in scores] == pytest.approx([1.0, 0.0, PARTIAL_IOU], abs=1e-3)
    assert result.accuracy["rect_acc_25_30"] == pytest.approx(2 / 3)
    assert result.accuracy["rect_acc_50_30"] == pytest.approx(1 / 3)
    assert result.iou_avg == pytest.approx((1.0 + PARTIAL_IOU) / 3, abs=1e-3)

    out = tmp_path / "worst"
    paths = write_worst(data, scores, out, count=2)
    assert [p.name for p in paths] == [
        "worst_00_000001_iou0.00.png",
        "worst_01_000002_iou0.43.png",
    ]
    assert sorted(out.iterdir()) == sorted(paths)
    for path, index in zip(paths, (1, 2), strict=True):
        image = cv2.imread(str(path))
        assert image is not None
        assert image.shape == (H, W, 3)
        # The picture is of the right image: its flat grey shows in a corner far from
        # every rectangle (no colour conversion changes a grey).
        assert tuple(image[H - 1, W - 1]) == (90 + 40 * index,) * 3
        # And something was drawn at the predicted grasp centre.
        assert tuple(image[round(TOP_V), round(TOP_U)]) != (90 + 40 * index,) * 3

    everything = write_worst(data, scores, tmp_path / "all", count=10)
    assert [p.name.split("_")[2] for p in everything] == ["000001", "000002", "000000"]


# --- grasp eval -----------------------------------------------------------------------------


def test_cli_eval_prints_one_json_line_and_writes_eval_json(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "d", [(TOP,), (MISS,), (PARTIAL,)])
    out = tmp_path / "out"
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out), "--json"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["rect_acc_25_30"] == pytest.approx(2 / 3)
    assert report["rect_acc_50_30"] == pytest.approx(1 / 3)
    assert report["iou_avg"] == pytest.approx((1.0 + PARTIAL_IOU) / 3, abs=1e-3)
    assert report["images"] == 3
    assert report["split"] == "all"
    assert report["data"] == str(data)
    # mug: images 0 and 2, both hit at IoU 0.25; bowl: image 1, missed.
    assert report["per_class"] == {"bowl": 0.0, "mug": 1.0}
    assert json.loads((out / "eval.json").read_text()) == report
    # The default --worst 8 draws all three images, worst first.
    pictures = sorted(p.name for p in out.glob("worst_*.png"))
    assert [name.split("_")[2] for name in pictures] == ["000001", "000002", "000000"]


def test_cli_eval_on_the_test_split(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three images with --split test: every round(1 / 0.1)-th, capped at the dataset size,
    # so step 3 and only image index 2 (the partial overlap).
    data = write_dataset(tmp_path / "d", [(TOP,), (MISS,), (PARTIAL,)])
    out = tmp_path / "out"
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out)]
    assert main([*args, "--split", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["images"] == 1
    assert report["split"] == "test"
    assert report["rect_acc_25_30"] == 1.0
    assert report["rect_acc_50_30"] == 0.0
    assert report["iou_avg"] == pytest.approx(PARTIAL_IOU, abs=1e-3)


def test_cli_eval_human_readable_table(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "d", [(TOP,), (MISS,)])
    out = tmp_path / "out"
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "IoU-Avg 0.500 over 2 images" in text
    assert "50.0%" in text
    assert (out / "eval.json").is_file()


def test_cli_eval_of_a_missing_dataset_exits_2(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out is relative
    assert main(["eval", "--model", str(model), "--data", "/nonexistent"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("grasp eval:")
    assert "/nonexistent" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_cli_eval_without_data_exits_2(
    model: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--model", str(model)]) == 2
    assert "--data" in capsys.readouterr().err
