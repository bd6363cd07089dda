"""SSG's in-graph decoding gives what the served numpy decoding gives."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from grasp_core.instances import InstanceParams, decode_instances, make_anchors
from grasp_core.metadata import AnchorSpec
from grasp_core.serving import INPUT_NAME, InstancePredictor
from grasp_learning.export import export_onnx, metadata_for
from grasp_learning.models import build_model
from grasp_learning.ssg_decoding import (
    DECODED_OUTPUTS,
    InGraphDecoder,
    append_decoding,
    decoded_instances,
)
from tests.learning.test_ssg import SMALL

SIZE = (64, 96)
GRID = (16, 24)  # prototype cells at stride 4


def assert_same(got, expected, tie_px: float = 0.0) -> None:
    """Same detections and grasps; a grasp's position may differ by up to tie_px where two
    cells of an untrained network's flat quality map tie to float32 rounding."""
    (gi, gg), (ei, eg) = got, expected
    assert [i.label for i in gi] == [i.label for i in ei]
    for g, e in zip(gi, ei, strict=True):
        np.testing.assert_allclose(g.box, e.box, atol=1e-3)
        np.testing.assert_array_equal(g.mask, e.mask)
        assert g.score == pytest.approx(e.score, abs=1e-5)
    assert [(g.instance_id, g.label) for g in gg] == [(e.instance_id, e.label) for e in eg]
    for g, e in zip(gg, eg, strict=True):
        np.testing.assert_allclose([g.u, g.v], [e.u, e.v], atol=tie_px + 1e-4)
        np.testing.assert_allclose(
            [g.angle, g.width, g.quality], [e.angle, e.width, e.quality], atol=1e-4
        )


def test_exported_decoding_matches_numpy_decoding(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("ssg", **SMALL).eval()
    metadata = metadata_for(model, "ssg", input_size=SIZE, classes=("bar", "cube"))
    network = export_onnx(model, metadata, tmp_path / "ssg.onnx")
    # An untrained network scores every class about equally: a zero threshold keeps every
    # candidate, so NMS, the slot limit and the mask crops all have work to do.
    params = InstanceParams(score_threshold=0.0, candidates=60, max_instances=12)
    decoded = append_decoding(network, tmp_path / "ssg_in_graph.onnx", metadata, params)
    served = InstancePredictor(network, params=params, threads=1)
    session = ort.InferenceSession(str(decoded), providers=["CPUExecutionProvider"])
    assert [o.shape[0] for o in session.get_outputs()] == [12] * len(DECODED_OUTPUTS)
    for seed in range(3):
        served._input[...] = np.random.default_rng(seed).normal(size=served._input.shape)
        expected = decode_instances(served.infer(), metadata, served.anchors, params)
        outputs = session.run(list(DECODED_OUTPUTS), {INPUT_NAME: served._input})
        got = decoded_instances(dict(zip(DECODED_OUTPUTS, outputs, strict=True)), metadata, params)
        assert len(got[0]) > 1
        assert_same(got, expected, tie_px=SIZE[0] / GRID[0])  # one prototype cell


def crafted_outputs(seed: int, anchors: np.ndarray, k: int = 8) -> dict[str, np.ndarray]:
    """SSG outputs of one image with confident, overlapping detections of two classes,
    masks covering part of their boxes, and the best detection's mask empty."""
    rng = np.random.default_rng(seed)
    a = len(anchors)
    logits = rng.normal(0.0, 3.0, (a, 3))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    coefficients = rng.normal(0.0, 2.0, (a, 5, k))
    prototypes = rng.normal(0.0, 1.0, (*GRID, k))
    prototypes[..., 0] = 1.0
    best = (1.0 - scores[:, 0]).argmax()  # the best detection score
    coefficients[best, 0] = 0.0
    coefficients[best, 0, 0] = -10.0  # sigmoid(-10) everywhere: no cell in the mask
    return {
        "scores": scores.astype(np.float32),
        "boxes": rng.normal(0.0, 0.5, (a, 4)).astype(np.float32),
        "coefficients": coefficients.astype(np.float32),
        "prototypes": prototypes.astype(np.float32),
    }


def test_decoder_matches_numpy_on_partial_empty_and_overlapping_masks() -> None:
    metadata = metadata_for(
        build_model("ssg", **SMALL), "ssg", input_size=SIZE, classes=("bar", "cube")
    )
    anchors = make_anchors(SIZE, AnchorSpec((8, 16, 32), (16.0, 32.0, 64.0), (0.5, 1.0, 2.0)))
    params = InstanceParams(candidates=80, max_instances=15)
    decoder = InGraphDecoder(anchors, SIZE, GRID, params)
    for seed in range(3):
        outputs = crafted_outputs(seed, anchors)
        expected = decode_instances(outputs, metadata, anchors, params)
        with torch.no_grad():
            got = decoder(*(torch.from_numpy(outputs[n])[None] for n in outputs))
        got = decoded_instances(
            dict(zip(DECODED_OUTPUTS, (t.numpy() for t in got), strict=True)), metadata, params
        )
        cells = [int(i.mask.sum()) for i in expected[0]]
        assert cells[0] == 0 and max(cells) > 0  # both ways of choosing the grasp cell
        assert len(cells) == params.max_instances  # more detections than slots
        assert_same(got, expected)
