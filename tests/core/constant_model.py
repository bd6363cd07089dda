"""A tiny ONNX grasp model with a known answer, shared by the serving and CLI tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from grasp_core.metadata import METADATA_KEY, ModelMetadata
from grasp_core.serving import OUTPUT_NAMES

SIZE = 64
PEAK_U, PEAK_V = 40, 20  # input px
ANGLE = math.radians(30)  # counter-clockwise on screen
WIDTH_MAP = 0.25


def constant_model(
    path: Path,
    metadata: ModelMetadata | None,
    channels: int = 4,
    bins: int = 1,
    size: int = SIZE,
    peak: float = 1.0,
) -> Path:
    """An ONNX model whose maps ignore the input: one quality peak of height ``peak`` at
    (PEAK_U, PEAK_V) with the grasp angle ANGLE and width WIDTH_MAP everywhere, so
    predict() has a known answer (no grasp at all for peak 0)."""
    vv, uu = np.mgrid[0:size, 0:size]
    peak = peak * np.exp(-((uu - PEAK_U) ** 2 + (vv - PEAK_V) ** 2) / (2 * 3.0**2))
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


def grconvnet_metadata(**kw) -> ModelMetadata:
    return ModelMetadata(architecture="grconvnet", input_size=(SIZE, SIZE), width_scale=100.0, **kw)


def frame(h: int = 480, w: int = 640) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((h, w, 3), 128, np.uint8)
    depth = np.full((h, w), 700, np.uint16)  # 0.7 m in millimetres
    return rgb, depth


def to_image(coord_px: float, crop_start_px: float) -> float:
    """Input px -> image px for the centred 480x480 crop resized to SIZE: pixel centres
    (not edges) map onto each other, since px coordinates name pixel centres."""
    return crop_start_px + (coord_px + 0.5) * 480 / SIZE - 0.5
