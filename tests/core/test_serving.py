"""ONNX Runtime serving: provider choice, model checks, and predict() end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from grasp_core.metadata import METADATA_KEY, MetadataError, ModelMetadata
from grasp_core.preprocess import InputError
from grasp_core.serving import (
    OUTPUT_NAMES,
    GraspPredictor,
    ModelFileError,
    choose_providers,
)

SIZE = 64
PEAK_U, PEAK_V = 40, 20  # input px
ANGLE = math.radians(30)  # counter-clockwise on screen
WIDTH_MAP = 0.25


def _constant_model(
    path: Path,
    metadata: ModelMetadata | None,
    channels: int = 4,
    bins: int = 1,
    size: int = SIZE,
) -> Path:
    """An ONNX model whose maps ignore the input: one quality peak at (PEAK_U, PEAK_V) with
    the grasp angle ANGLE and width WIDTH_MAP everywhere, so predict() has a known answer."""
    vv, uu = np.mgrid[0:size, 0:size]
    peak = np.exp(-((uu - PEAK_U) ** 2 + (vv - PEAK_V) ** 2) / (2 * 3.0**2))
    maps = {
        "quality": peak,
        "cos2theta": np.full((size, size), math.cos(2 * ANGLE)),
        "sin2theta": np.full((size, size), math.sin(2 * ANGLE)),
        "width": np.full((size, size), WIDTH_MAP),
    }
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero")]
    for name in OUTPUT_NAMES:
        const = np.repeat(maps[name][None, None], bins, axis=1).astype(np.float32)
        inits.append(numpy_helper.from_array(const, f"{name}_map"))
        nodes.append(helper.make_node("Add", [f"{name}_map", "nothing"], [name]))
    graph = helper.make_graph(
        nodes,
        "constant_grasp_maps",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", channels, size, size])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", bins, size, size])
            for n in OUTPUT_NAMES
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, {METADATA_KEY: metadata.to_json()})
    onnx.save(model, path)
    return path


def _metadata(**kw) -> ModelMetadata:
    return ModelMetadata(architecture="grconvnet", input_size=(SIZE, SIZE), width_scale=100.0, **kw)


def _frame(h: int = 480, w: int = 640) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((h, w, 3), 128, np.uint8)
    depth = np.full((h, w), 700, np.uint16)  # 0.7 m in millimetres
    return rgb, depth


def _to_image(coord_px: float, crop_start_px: float) -> float:
    """Input px -> image px for the centred 480x480 crop resized to SIZE: pixel centres
    (not edges) map onto each other, since px coordinates name pixel centres."""
    return crop_start_px + (coord_px + 0.5) * 480 / SIZE - 0.5


def test_predict_maps_the_peak_back_to_full_image_px(tmp_path: Path) -> None:
    predictor = GraspPredictor(_constant_model(tmp_path / "m.onnx", _metadata()), threads=1)
    prediction = predictor.predict(*_frame())
    best = prediction.grasps[0]
    # Centred 480x480 crop of a 640x480 frame, resized to 64x64: 7.5 image px per input px,
    # crop starting 80 px from the left edge.
    scale = 480 / SIZE
    assert best.u == pytest.approx(_to_image(PEAK_U, 80), abs=1e-3)
    assert best.v == pytest.approx(_to_image(PEAK_V, 0), abs=1e-3)
    assert best.angle == pytest.approx(ANGLE, abs=1e-5)
    assert best.width == pytest.approx(WIDTH_MAP * 100.0 * scale, rel=1e-5)
    assert len(prediction.grasps) == 1
    assert prediction.maps.quality.shape == (SIZE, SIZE)
    assert min(prediction.inference_ms, prediction.preprocess_ms) >= 0


def test_predict_reads_three_angle_bins(tmp_path: Path) -> None:
    path = _constant_model(tmp_path / "m.onnx", _metadata(angle_bins=3), bins=3)
    best = GraspPredictor(path, threads=1).predict(*_frame()).grasps[0]
    assert best.angle == pytest.approx(ANGLE, abs=1e-5)
    assert best.u == pytest.approx(_to_image(PEAK_U, 80), abs=1e-3)


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        GraspPredictor(tmp_path / "nope.onnx")


def test_corrupt_model_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07 this is not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        GraspPredictor(path)


def test_model_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="carries no 'grasp_stack' metadata"):
        GraspPredictor(_constant_model(tmp_path / "m.onnx", None))


def test_metadata_contradicting_the_input_is_refused(tmp_path: Path) -> None:
    path = _constant_model(tmp_path / "m.onnx", _metadata(modality="depth"), channels=4)
    with pytest.raises(MetadataError, match="input axis 1 is 4"):
        GraspPredictor(path)


def test_metadata_contradicting_the_angle_bins_is_refused(tmp_path: Path) -> None:
    path = _constant_model(tmp_path / "m.onnx", _metadata(angle_bins=3), bins=1)
    with pytest.raises(MetadataError, match="3 angle bin"):
        GraspPredictor(path)


def test_bad_frames_raise_input_errors_and_the_predictor_keeps_working(tmp_path: Path) -> None:
    predictor = GraspPredictor(_constant_model(tmp_path / "m.onnx", _metadata()), threads=1)
    rgb, depth = _frame()
    with pytest.raises(InputError, match="align depth"):
        predictor.predict(rgb, depth[:, :-1])
    with pytest.raises(InputError):
        predictor.predict(rgb, np.full_like(depth, 0))
    assert predictor.predict(rgb, depth).grasps


def test_choose_providers_prefers_gpu_and_keeps_cpu_last() -> None:
    gpu_build = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(None, gpu_build) == gpu_build
    assert choose_providers(["cuda", "cpu"], gpu_build) == gpu_build[1:]
    assert choose_providers(["tensorrt"], ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(None, ["CPUExecutionProvider", "CUDAExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
