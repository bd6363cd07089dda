"""ONNX Runtime serving: provider choice, model checks, and predict() end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from constant_model import (
    ANGLE,
    PEAK_U,
    PEAK_V,
    SIZE,
    WIDTH_MAP,
    constant_model,
    frame,
    grconvnet_metadata,
    to_image,
)

from grasp_core.metadata import MetadataError
from grasp_core.preprocess import InputError
from grasp_core.serving import (
    GraspPredictor,
    ModelFileError,
    choose_providers,
)


def test_predict_maps_the_peak_back_to_full_image_px(tmp_path: Path) -> None:
    predictor = GraspPredictor(constant_model(tmp_path / "m.onnx", grconvnet_metadata()), threads=1)
    prediction = predictor.predict(*frame())
    best = prediction.grasps[0]
    # Centred 480x480 crop of a 640x480 frame, resized to 64x64: 7.5 image px per input px,
    # crop starting 80 px from the left edge.
    scale = 480 / SIZE
    assert best.u == pytest.approx(to_image(PEAK_U, 80), abs=1e-3)
    assert best.v == pytest.approx(to_image(PEAK_V, 0), abs=1e-3)
    assert best.angle == pytest.approx(ANGLE, abs=1e-5)
    assert best.width == pytest.approx(WIDTH_MAP * 100.0 * scale, rel=1e-5)
    assert len(prediction.grasps) == 1
    assert prediction.maps.quality.shape == (SIZE, SIZE)
    assert min(prediction.inference_ms, prediction.preprocess_ms) >= 0


def test_predict_reads_three_angle_bins(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", grconvnet_metadata(angle_bins=3), bins=3)
    best = GraspPredictor(path, threads=1).predict(*frame()).grasps[0]
    assert best.angle == pytest.approx(ANGLE, abs=1e-5)
    assert best.u == pytest.approx(to_image(PEAK_U, 80), abs=1e-3)


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
        GraspPredictor(constant_model(tmp_path / "m.onnx", None))


def test_metadata_contradicting_the_input_is_refused(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", grconvnet_metadata(modality="depth"), channels=4)
    with pytest.raises(MetadataError, match="input axis 1 is 4"):
        GraspPredictor(path)


def test_metadata_contradicting_the_angle_bins_is_refused(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", grconvnet_metadata(angle_bins=3), bins=1)
    with pytest.raises(MetadataError, match="3 angle bin"):
        GraspPredictor(path)


def test_bad_frames_raise_input_errors_and_the_predictor_keeps_working(tmp_path: Path) -> None:
    predictor = GraspPredictor(constant_model(tmp_path / "m.onnx", grconvnet_metadata()), threads=1)
    rgb, depth = frame()
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


def test_worker_threads_sleep_between_frames(tmp_path: Path) -> None:
    # Spinning workers would take the cores that the frame's pre- and post-processing and
    # the other nodes of the graph need between two inferences.
    predictor = GraspPredictor(constant_model(tmp_path / "m.onnx", grconvnet_metadata()), threads=2)
    options = predictor.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
