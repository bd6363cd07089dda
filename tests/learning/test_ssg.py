"""SSG: shapes, targets, the loss learns, the export agrees, `grasp train --model ssg`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from grasp_core.datasets import Sample, open_dataset
from grasp_core.datasets.generated import sample_name, write_info, write_sample
from grasp_core.grasp import ImageGrasp
from grasp_core.instances import INSTANCE_OUTPUTS, make_anchors
from grasp_core.metadata import AnchorSpec
from grasp_core.serving import INPUT_NAME, InstancePredictor, ModelFileError, open_predictor
from grasp_learning.augment import NO_AUGMENTATION
from grasp_learning.export import export_onnx, metadata_for, read_onnx_metadata
from grasp_learning.models import build_model
from grasp_learning.ssg import ssg_loss
from grasp_learning.ssg_targets import (
    IGNORE,
    MatchParams,
    instance_grasp_maps,
    match_anchors,
    ssg_example,
)
from grasp_learning.train import SELECTION_KEY, TrainConfig, train

SMALL = {
    "blocks": (1, 1, 1, 1),
    "widths": (8, 16, 16, 32),
    "fpn_channels": 16,
    "prototypes": 8,
    "anchor_sizes": (16.0, 32.0, 64.0),
    "classes": 2,
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Six 96x128 images: a raised 'bar' with a grasp across its middle and a 'cube'."""
    root = tmp_path_factory.mktemp("tiny_ssg")
    write_info(root, {"classes": ["bar", "cube"]})
    rng = np.random.default_rng(0)
    for i in range(6):
        u, v = rng.uniform(40, 60), rng.uniform(30, 66)
        depth = np.full((96, 128), 0.7, np.float32)
        instance = np.zeros((96, 128), np.int32)
        instance[int(v) - 4 : int(v) + 5, int(u) - 15 : int(u) + 16] = 1
        instance[20:34, 90:104] = 2
        depth[instance > 0] = 0.65
        rgb = np.zeros((96, 128, 3), np.uint8)
        rgb[instance == 1] = (200, 80, 40)
        rgb[instance == 2] = (40, 80, 200)
        grasps = (
            ImageGrasp(u, v, math.pi / 2, 14, 8, instance_id=1, label="bar"),
            ImageGrasp(97, 27, 0.0, 18, 9, instance_id=2, label="cube"),
        )
        write_sample(
            root, Sample(sample_name(i), rgb, depth, grasps, instance, {1: "bar", 2: "cube"}), {}
        )
    return root


def test_forward_shapes_follow_the_anchors_and_strides() -> None:
    model = build_model("ssg", **SMALL)
    out = model(torch.zeros(2, 4, 64, 96))
    anchors = make_anchors((64, 96), model.config.anchors)
    assert out["logits"].shape == (2, len(anchors), 3)
    assert out["boxes"].shape == (2, len(anchors), 4)
    assert out["coefficients"].shape == (2, len(anchors), 5, 8)
    assert out["prototypes"].shape == (2, 16, 24, 8)
    assert out["semantic"].shape == (2, 2, 8, 12)
    scores = model.eval().detect(torch.zeros(1, 4, 64, 96))[0]
    torch.testing.assert_close(scores.sum(-1), torch.ones(1, len(anchors)))


def test_anchor_matching_thresholds_and_forced_best_anchor() -> None:
    anchors = np.float32([[10, 10, 20, 20], [14, 10, 20, 20], [30, 10, 20, 20], [90, 90, 8, 8]])
    # Box 0 is anchor 0 exactly; anchor 1 overlaps it by 16/24 = 0.67 -> positive; anchor 2
    # not at all. Box 1 overlaps anchor 3 by 49/115 = 0.43 only, yet is its best anchor.
    boxes = np.float32([[0, 0, 20, 20], [87, 87, 97, 97]])
    labels, matched, targets = match_anchors(anchors, boxes, np.array([2, 1]), MatchParams())
    assert labels.tolist() == [2, 2, 0, 1]
    assert matched[[0, 1, 3]].tolist() == [0, 0, 1]
    np.testing.assert_allclose(targets[0], 0, atol=1e-6)
    # Shifted by 4 px against a 20 px anchor: 4 / (0.1 * 20) = 2.
    assert targets[1, 0] == pytest.approx(-2.0)
    half = np.float32([[10, 10, 20, 20], [19, 10, 20, 20]])
    labels, _, _ = match_anchors(half, boxes[:1], np.array([1]), MatchParams())
    # Anchor 1 overlaps by 11 x 20 / (2 x 400 - 220) = 0.38: background, or ignored when
    # negatives must stay below 0.3.
    assert labels.tolist() == [1, 0]
    labels, _, _ = match_anchors(half, boxes[:1], np.array([1]), MatchParams(negative_iou=0.3))
    assert labels.tolist() == [1, IGNORE]


def test_instance_grasp_maps_mark_the_centre_third(tiny_data) -> None:
    metadata = metadata_for(
        build_model("ssg", **SMALL), "ssg", input_size=(64, 64), classes=("a", "b")
    )
    # 24 px wide, 8 px jaw, horizontal: the centre third spans u 26..34, v 16..24 px, i.e.
    # prototype cells (4 px) 6..8 across and 4..6 down.
    grasp = ImageGrasp(30.0, 20.0, 0.0, 24.0, 8.0)
    maps = instance_grasp_maps([grasp, grasp], (16, 16), metadata)
    quality, position, sin2, cos2, width = maps
    assert position[5, 7] == 1 and position[5, 2] == 0 and position[12, 7] == 0
    assert quality[5, 7] == pytest.approx(math.tanh(1.0))  # two rectangles cover it
    assert (sin2[5, 7], cos2[5, 7]) == pytest.approx((0.0, 1.0))
    assert width[5, 7] == pytest.approx(24.0 / metadata.width_scale)


def _batch(data: Path, metadata, count: int):
    dataset = open_dataset(str(data))
    anchors = make_anchors(metadata.input_size, metadata.anchors)
    rng = np.random.default_rng(0)
    examples = [
        ssg_example(dataset[i], metadata, rng, NO_AUGMENTATION, anchors) for i in range(count)
    ]
    x = torch.from_numpy(np.stack([e[0] for e in examples]))
    targets = {k: torch.from_numpy(np.stack([e[1][k] for e in examples])) for k in examples[0][1]}
    return x, targets, [e[2] for e in examples]


def test_loss_falls_when_overfitting_a_few_images(tiny_data) -> None:
    torch.manual_seed(0)
    model = build_model("ssg", **SMALL)
    metadata = metadata_for(model, "ssg", input_size=(64, 64), classes=("bar", "cube"))
    x, targets, _ = _batch(tiny_data, metadata, 4)
    assert (targets["labels"] > 0).any() and targets["has_grasp"].sum() == 8
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, parts = ssg_loss(model(x), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert set(parts) == {"cls", "box", "imask", "grasp", "smask"}
    assert losses[-1] < 0.4 * losses[0]


def test_an_object_without_grasps_is_taught_a_zero_quality(tiny_data) -> None:
    torch.manual_seed(0)
    model = build_model("ssg", **SMALL)
    metadata = metadata_for(model, "ssg", input_size=(64, 64), classes=("bar", "cube"))
    x, targets, _ = _batch(tiny_data, metadata, 2)
    # The cube (class 2, object 1 of each image by area) loses its grasps, as an object the
    # labeller finds no grasp on: its target maps are all zero.
    cube = targets["gt_boxes"][:, :, 0] > 40  # at 64 px the cube starts at u = 45
    targets["gt_grasp"][cube], targets["has_grasp"][cube] = 0.0, 0.0
    out = model(x)
    out["coefficients"].retain_grad()
    loss, _ = ssg_loss(out, targets)
    loss.backward()
    on_cube = targets["labels"] == 2
    quality_grad = out["coefficients"].grad[:, :, 1]  # (B, A, k) of the quality set
    assert cube.sum() == 2 and on_cube.any()
    assert quality_grad[on_cube].abs().sum() > 0
    # Angle and width are learnt on grasp pixels only, and the cube has none.
    assert out["coefficients"].grad[:, :, 2:][on_cube].abs().sum() == 0


def test_onnx_export_matches_torch(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("ssg", **SMALL)
    metadata = metadata_for(model, "ssg", input_size=(64, 96), classes=("bar", "cube"))
    # Non-trivial batch-norm statistics, so folding them is exercised.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, 4, 64, 96))
    model.eval()
    path = export_onnx(model, metadata, tmp_path / "ssg.onnx")
    x = torch.randn(1, 4, 64, 96)
    with torch.no_grad():
        expected = [t.numpy() for t in model.detect(x)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(INSTANCE_OUTPUTS), {INPUT_NAME: x.numpy()})
    for name, e, g in zip(INSTANCE_OUTPUTS, expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-4, err_msg=name)
    back = read_onnx_metadata(path)
    assert (back.classes, back.prototypes) == (("bar", "cube"), 8)
    assert back.anchors == AnchorSpec((8, 16, 32), (16.0, 32.0, 64.0), (0.5, 1.0, 2.0))


def test_metadata_classes_must_match_the_network() -> None:
    with pytest.raises(ValueError, match="classes"):
        metadata_for(build_model("ssg", **SMALL), "ssg", input_size=(64, 64), classes=("bar",))


def test_grasp_train_ssg_writes_a_servable_model(tiny_data, tmp_path) -> None:
    hyper = {k: v for k, v in SMALL.items() if k != "classes"}
    config = TrainConfig(
        architecture="ssg",
        hyperparameters=hyper,
        input_size=(64, 64),
        epochs=2,
        batch_size=3,
        device="cpu",
        workers=0,
    )
    summary = train(config, str(tiny_data), tmp_path / "run")
    assert SELECTION_KEY in summary["best"] and summary["epochs"] == 2
    predictor = open_predictor(tmp_path / "run" / "model.onnx", providers=["cpu"], threads=1)
    assert isinstance(predictor, InstancePredictor)
    assert predictor.metadata.classes == ("bar", "cube")
    sample = open_dataset(str(tiny_data))[0]
    prediction = predictor.predict(sample.rgb, sample.depth)
    assert all(g.label in ("bar", "cube") and g.instance_id >= 1 for g in prediction.grasps)


def test_fine_tuning_from_an_exported_ssg_starts_from_its_weights(tiny_data, tmp_path) -> None:
    # A shipped model may exist only as its ONNX file (trained elsewhere): a run can start
    # from it, training the folded (inference) form. At a learning rate of 0 the export of
    # that run gives the file's outputs back.
    hyper = {k: v for k, v in SMALL.items() if k != "classes"}
    common = dict(
        architecture="ssg", hyperparameters=hyper, input_size=(64, 64), batch_size=3,
        device="cpu", workers=0, augmentation=NO_AUGMENTATION,
    )  # fmt: skip
    train(TrainConfig(epochs=1, **common), str(tiny_data), tmp_path / "first")
    shipped = tmp_path / "first" / "model.onnx"
    train(TrainConfig(epochs=1, lr=0.0, init=str(shipped), **common), str(tiny_data),
          tmp_path / "tuned")  # fmt: skip
    x = np.random.default_rng(0).normal(size=(1, 4, 64, 64)).astype(np.float32)

    def run(path: Path) -> list[np.ndarray]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {INPUT_NAME: x})

    outputs = [run(shipped), run(tmp_path / "tuned" / "model.onnx")]
    for first, tuned in zip(*outputs, strict=True):
        np.testing.assert_allclose(first, tuned, rtol=1e-4, atol=1e-5)
    fresh = tmp_path / "fresh"
    train(TrainConfig(epochs=1, lr=0.0, seed=1, **common), str(tiny_data), fresh)
    assert not np.allclose(outputs[0][0], run(fresh / "model.onnx")[0], atol=1e-3)
    with pytest.raises(ModelFileError, match="no weights of this network"):
        wider = {**hyper, "prototypes": 12}
        train(TrainConfig(epochs=1, init=str(shipped), **{**common, "hyperparameters": wider}),
              str(tiny_data), tmp_path / "foreign")  # fmt: skip


def test_bench_times_an_ssg_export_on_its_own_weights(tmp_path) -> None:
    from grasp_core.bench import run_bench
    from grasp_learning.bench import load_onnx_weights

    torch.manual_seed(0)
    model = build_model("ssg", **SMALL).eval()
    metadata = metadata_for(model, "ssg", input_size=(64, 64), classes=("bar", "cube"))
    path = export_onnx(model, metadata, tmp_path / "ssg.onnx")
    # The training-only semantic head is not in the graph; everything detect() runs is.
    rebuilt = load_onnx_weights(path, metadata)
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        for a, b in zip(model.detect(x), rebuilt(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    result = run_bench(path, runs=3, threads=1)
    assert set(result["median_ms"]) >= {"onnxruntime-CPUExecutionProvider", "torch-eager-cpu"}
    assert result["input"] == [1, 4, 64, 64]
