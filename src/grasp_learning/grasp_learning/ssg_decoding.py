"""SSG's decoding as graph operators: the in-graph alternative to numpy decoding.

grasp_core.instances.decode_instances decodes the network's four outputs in numpy, after
ONNX Runtime returns them. InGraphDecoder does the same work in torch so that it can be
exported and appended to an SSG model (append_decoding): thresholding, top-k candidates,
box decoding, class-wise Fast NMS, mask and quality assembly over the prototype grid,
crop by box, the quality peak inside the instance and the angle and width maps there.
What comes out is a fixed number of detection slots, a valid flag each;
decoded_instances turns them into the Instances and grasps that decode_instances gives.

tools/ssg_decoding_bench.py times both ways end to end on the same frames; the serving
path keeps the faster one (see models/ssg.md).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from grasp_core.grasp import ImageGrasp
from grasp_core.instances import (
    BOX_VARIANCES,
    COEFFICIENT_SETS,
    GRID_SETS,
    INSTANCE_OUTPUTS,
    MAX_LOG_SIZE,
    TANH_SETS,
    Detections,
    GraspPeaks,
    Instance,
    InstanceParams,
    instances_and_grasps,
    make_anchors,
)
from grasp_core.metadata import ModelMetadata
from grasp_core.serving import INPUT_NAME
from grasp_learning.export import OPSET

DECODED_OUTPUTS = (
    "valid", "classes", "detection_scores", "corner_boxes", "masks", "rows", "cols", "peaks", "maps"
)  # fmt: skip
"""Outputs of the decoded graph, each with max_instances rows, best score first: valid
(bool), classes (int64), detection_scores, corner_boxes (input px), masks (bool,
prototype grid), rows and cols (int64, prototype grid) and peaks of the grasp, maps (sin 2θ,
cos 2θ, width map at the peak). Rows with valid false are padding."""

_PREFIX = "decoder_"


class InGraphDecoder(nn.Module):
    """The four SSG outputs of one image (batch axis of 1) -> DECODED_OUTPUTS.

    anchors: (A, 4) (cx, cy, w, h) input px. input_size: (height, width) input px.
    grid: (h, w) of the prototype grid. Detection slots: min(params.max_instances,
    params.candidates, A).
    """

    def __init__(
        self,
        anchors: np.ndarray,
        input_size: tuple[int, int],
        grid: tuple[int, int],
        params: InstanceParams,
    ) -> None:
        super().__init__()
        self.params = params
        self.register_buffer("anchors", torch.as_tensor(anchors, dtype=torch.float32))
        self.candidates = min(params.candidates, len(anchors))
        self.slots = min(params.max_instances, self.candidates)
        upper = torch.ones(self.candidates, self.candidates, dtype=torch.bool).triu(1)
        self.register_buffer("upper", upper)
        h_in, w_in = input_size
        self.register_buffer("box_max", torch.tensor([w_in - 1, h_in - 1] * 2, dtype=torch.float32))
        self.grid = grid
        self.stride = h_in / grid[0]
        peak_sets = COEFFICIENT_SETS[len(GRID_SETS) :]
        self.register_buffer("tanh", torch.tensor([name in TANH_SETS for name in peak_sets]))

    def forward(
        self,
        scores: torch.Tensor,
        boxes: torch.Tensor,
        coefficients: torch.Tensor,
        prototypes: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        p = self.params
        classes = scores[0, :, 1:].argmax(dim=1)
        best = 1.0 - scores[0, :, 0]  # the detection score of grasp_core.instances
        top, order = best.topk(self.candidates)
        classes = classes[order]
        anchors = self.anchors[order]
        offsets = boxes[0, order]
        cxy = anchors[:, :2] + offsets[:, :2] * BOX_VARIANCES[0] * anchors[:, 2:]
        log_size = (offsets[:, 2:] * BOX_VARIANCES[1]).clamp(max=MAX_LOG_SIZE)
        wh = anchors[:, 2:] * log_size.exp()
        corners = torch.cat([cxy - wh / 2, cxy + wh / 2], 1)
        corners = torch.minimum(corners.clamp(min=0.0), self.box_max)
        # Fast NMS over the candidates, best first: a lower-scored box is dropped when a
        # higher one of its class overlaps it too much (below-threshold boxes come last and
        # so drop nothing that counts).
        overlap = _iou(corners, corners) * (classes[:, None] == classes[None, :])
        overlap = torch.where(self.upper, overlap, torch.zeros_like(overlap))
        kept = (overlap.max(dim=0).values <= p.nms_iou) & (top > p.score_threshold)
        ranked, slot = torch.where(kept, top, torch.full_like(top, -1.0)).topk(self.slots)
        valid = ranked > p.score_threshold
        classes, corners = classes[slot], corners[slot]
        coefficients = coefficients[0, order[slot]]

        h, w = self.grid
        k = prototypes.shape[-1]
        flat = prototypes[0].reshape(h * w, k)
        grid_maps = torch.sigmoid(coefficients[:, : len(GRID_SETS)] @ flat.T)  # mask, quality
        in_box = self._in_box(corners)
        inside = (grid_maps[:, 0] > p.mask_threshold) & in_box
        # The peak inside the instance, or inside the box when the mask vanished there.
        region = inside | (in_box & ~inside.any(dim=1, keepdim=True))
        quality = grid_maps[:, 1]
        cell = torch.where(region, quality, torch.full_like(quality, -1.0)).argmax(dim=1)
        peaks = quality.gather(1, cell[:, None])[:, 0]
        at_peak = torch.einsum("nk,nsk->ns", flat[cell], coefficients[:, len(GRID_SETS) :])
        maps = torch.where(self.tanh, torch.tanh(at_peak), torch.sigmoid(at_peak))
        return (
            valid, classes, ranked, corners, inside.reshape(-1, h, w), cell // w, cell % w,
            peaks, maps,
        )  # fmt: skip

    def _in_box(self, corners: torch.Tensor) -> torch.Tensor:
        """(N, h * w) whether each grid cell's centre lies in each box, with at least one
        cell per box (grasp_core.instances.box_cells)."""
        h, w = self.grid
        first = torch.ceil((corners + 0.5) / self.stride - 0.5)
        last = torch.floor((corners + 0.5) / self.stride - 0.5)
        c0, r0 = first[:, 0].clamp(0, w - 1), first[:, 1].clamp(0, h - 1)
        c1 = torch.maximum(last[:, 2].clamp(max=w - 1), c0)
        r1 = torch.maximum(last[:, 3].clamp(max=h - 1), r0)
        cols = torch.arange(w, dtype=torch.float32)
        rows = torch.arange(h, dtype=torch.float32)
        in_cols = (cols >= c0[:, None]) & (cols <= c1[:, None])
        in_rows = (rows >= r0[:, None]) & (rows <= r1[:, None])
        return (in_rows[:, :, None] & in_cols[:, None, :]).reshape(-1, h * w)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    lo = torch.maximum(a[:, None, :2], b[None, :, :2])
    hi = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def _output_shapes(model_path: Path, metadata: ModelMetadata) -> dict[str, tuple[int, ...]]:
    """The network outputs' shapes for one image, from a run on zeros."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    zeros = np.zeros((1, metadata.channels, *metadata.input_size), np.float32)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, (a.shape for a in session.run(names, {INPUT_NAME: zeros})), strict=True))


def append_decoding(
    model_path: str | Path, out_path: str | Path, metadata: ModelMetadata, params: InstanceParams
) -> Path:
    """Write model_path's SSG network followed by InGraphDecoder to out_path (ONNX, batch
    1, outputs DECODED_OUTPUTS, the same metadata)."""
    model_path, out_path = Path(model_path), Path(out_path)
    shapes = _output_shapes(model_path, metadata)
    anchors = make_anchors(metadata.input_size, metadata.anchors)
    decoder = InGraphDecoder(anchors, metadata.input_size, shapes["prototypes"][1:3], params)
    examples = tuple(torch.zeros(shapes[name]) for name in INSTANCE_OUTPUTS)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's legacy and tracer notes
        path = Path(tmp) / "decoder.onnx"
        torch.onnx.export(
            decoder, examples, str(path), dynamo=False, opset_version=OPSET,
            input_names=[_PREFIX + name for name in INSTANCE_OUTPUTS],
            output_names=list(DECODED_OUTPUTS),
        )  # fmt: skip
        decoding = onnx.load(str(path))
    network = onnx.load(str(model_path))
    decoding.ir_version = network.ir_version
    # The decoder's inner names get a prefix; its outputs keep theirs.
    decoding = onnx.compose.add_prefix(decoding, _PREFIX, rename_inputs=False, rename_outputs=False)
    merged = onnx.compose.merge_models(
        network, decoding, io_map=[(name, _PREFIX + name) for name in INSTANCE_OUTPUTS],
        outputs=list(DECODED_OUTPUTS),
    )  # fmt: skip
    onnx.helper.set_model_props(merged, {p.key: p.value for p in network.metadata_props})
    onnx.checker.check_model(merged)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(out_path))
    return out_path


def decoded_instances(
    outputs: Mapping[str, np.ndarray], metadata: ModelMetadata, params: InstanceParams
) -> tuple[list[Instance], list[ImageGrasp]]:
    """Instances and grasps (input px, as decode_instances) from DECODED_OUTPUTS."""
    o = {name: outputs[name][outputs["valid"]] for name in DECODED_OUTPUTS[1:]}
    stride = metadata.input_size[0] / outputs["masks"].shape[1]
    detections = Detections(
        o["classes"], o["detection_scores"], o["corner_boxes"], o["masks"], stride
    )
    peaks = GraspPeaks(o["rows"], o["cols"], o["peaks"], o["maps"])
    return instances_and_grasps(detections, peaks, metadata, params)
