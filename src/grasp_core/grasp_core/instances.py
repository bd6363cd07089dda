"""Instance-wise grasps from an SSG network's outputs, in numpy (000_82e8763e29e0cd96.txt).

SSG (sec. III-B, III-C) predicts, for every anchor box, class scores, a box offset and
five sets of k coefficients; a ProtoNet predicts k prototype masks P for the whole image.
For each detection that survives NMS the five target masks are M = act(P C^T): the
instance mask, grasp quality and width through a sigmoid, sin 2θ and cos 2θ through tanh.
Each mask is cropped by the detection's box and the grasp is read at the maximum of the
quality inside the instance mask.

Everything here is in input px (the network input, see grasp_core.preprocess), with pixel
centres at integer coordinates; boxes are (x0, y0, x1, y1) corner coordinates, input px.
Angles follow grasp_core.grasp (closing axis, rad, counter-clockwise on screen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import AnchorSpec, ModelMetadata
from grasp_core.postprocess import angle_from_maps, width_from_map
from grasp_core.preprocess import CropResize, InputError

COEFFICIENT_SETS = ("mask", "quality", "sin2theta", "cos2theta", "width")
"""The five coefficient sets per anchor, in the order of the network's coefficient axis."""
GRID_SETS = COEFFICIENT_SETS[:2]
"""The sets decoding assembles over a detection's box; the others only at its grasp."""
TANH_SETS = frozenset({"sin2theta", "cos2theta"})
"""Sets assembled through tanh (range -1..1); the others go through a sigmoid (0..1)."""

BOX_VARIANCES = (0.1, 0.2)
"""Scale of the centre and log-size offsets of encode_boxes (SSD's, kept by YOLACT)."""

MAX_LOG_SIZE = math.log(1000.0 / 16)
"""Clamp of the decoded log size change, so a wild offset cannot overflow exp."""


def make_anchors(input_size: tuple[int, int], spec: AnchorSpec) -> np.ndarray:
    """(A, 4) float32 anchors (cx, cy, w, h) in input px for an input of (height, width).

    Level by level (spec.strides order), row-major over the level's ceil(H / stride) x
    ceil(W / stride) cells, then over spec.aspect_ratios: the order of the network's
    anchor axis. A cell's anchors sit at the centre of the input pixels it covers.
    """
    h, w = input_size
    levels = []
    for stride, size in zip(spec.strides, spec.sizes, strict=True):
        rows, cols = -(-h // stride), -(-w // stride)
        cy, cx = np.meshgrid(
            np.arange(rows) * stride + (stride - 1) / 2,
            np.arange(cols) * stride + (stride - 1) / 2,
            indexing="ij",
        )
        ratios = np.asarray(spec.aspect_ratios, np.float64)
        aw, ah = size * np.sqrt(ratios), size / np.sqrt(ratios)
        r = len(ratios)
        level = np.stack(
            [
                np.repeat(cx.ravel(), r),
                np.repeat(cy.ravel(), r),
                np.tile(aw, rows * cols),
                np.tile(ah, rows * cols),
            ],
            axis=1,
        )
        levels.append(level)
    return np.concatenate(levels).astype(np.float32)


def anchors_per_cell(spec: AnchorSpec) -> int:
    """Anchors at every feature cell: one per aspect ratio."""
    return len(spec.aspect_ratios)


def corners_to_centre(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) (x0, y0, x1, y1) -> (cx, cy, w, h), same units."""
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)


def centre_to_corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) (cx, cy, w, h) -> (x0, y0, x1, y1), same units."""
    return np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)


def encode_boxes(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Regression targets (N, 4) of corner boxes (N, 4) relative to their anchors (N, 4)
    (cx, cy, w, h); the inverse of decode_boxes."""
    c = corners_to_centre(boxes.astype(np.float64))
    dxy = (c[:, :2] - anchors[:, :2]) / (BOX_VARIANCES[0] * anchors[:, 2:])
    dwh = np.log(np.maximum(c[:, 2:], 1e-6) / anchors[:, 2:]) / BOX_VARIANCES[1]
    return np.concatenate([dxy, dwh], 1).astype(np.float32)


def decode_boxes(offsets: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Corner boxes (N, 4), input px, from the network's offsets (N, 4) at anchors (N, 4)."""
    cxy = anchors[:, :2] + offsets[:, :2] * BOX_VARIANCES[0] * anchors[:, 2:]
    wh = anchors[:, 2:] * np.exp(np.minimum(offsets[:, 2:] * BOX_VARIANCES[1], MAX_LOG_SIZE))
    return centre_to_corners(np.concatenate([cxy, wh], 1))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of corner boxes a (N, 4) and b (M, 4)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def fast_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by class-wise Fast NMS, best score first.

    Fast NMS (YOLACT, which SSG builds on) drops a box when a higher-scored box of the same
    class overlaps it by more than ``iou``, even if that box is itself dropped: one matrix
    operation instead of a sequential loop, at the price of occasionally suppressing a
    little more than greedy NMS.
    """
    order = np.argsort(-scores, kind="stable")
    b, c = boxes[order], classes[order]
    overlap = box_iou(b, b)
    overlap[c[:, None] != c[None, :]] = 0.0
    overlap = np.triu(overlap, k=1)
    return order[overlap.max(axis=0, initial=0.0) <= iou]


def activate(linear: np.ndarray, sets: Sequence[str]) -> np.ndarray:
    """In place: the activation of each set (axis 1 of ``linear``, named by ``sets``):
    tanh for TANH_SETS, a sigmoid for the others. Returns ``linear``."""
    tanh = np.array([name in TANH_SETS for name in sets])
    # tanh(x) = 2 sigmoid(2x) - 1: one sigmoid pass over every set, then an affine fix-up.
    linear *= (
        np.where(tanh, -2.0, -1.0).astype(linear.dtype).reshape(1, -1, *[1] * (linear.ndim - 2))
    )
    np.exp(linear, out=linear)
    linear += 1.0
    np.reciprocal(linear, out=linear)
    linear[:, tanh] = 2.0 * linear[:, tanh] - 1.0
    return linear


def assemble(
    prototypes: np.ndarray, coefficients: np.ndarray, sets: Sequence[str] = COEFFICIENT_SETS
) -> np.ndarray:
    """Target masks (N, S, h, w) float32 from prototypes (h, w, k) and coefficients
    (N, S, k) of the S coefficient sets named by ``sets``: M = act(P C^T) (see activate)."""
    h, w, k = prototypes.shape
    n, s = coefficients.shape[:2]
    linear = (coefficients.reshape(n * s, k) @ prototypes.reshape(h * w, k).T).reshape(n, s, h, w)
    return activate(linear, sets)


def box_cells(boxes: np.ndarray, size: tuple[int, int], stride: float) -> np.ndarray:
    """(N, 4) int (row0, row1, col0, col1), half-open: the cells of an (h, w) grid of
    ``stride`` input px per cell whose centre lies inside each corner box (N, 4), input
    px. Cell j's centre is at (j + 0.5) * stride - 0.5 input px; a box between two cell
    centres gets the cell after its start, so every box has at least one cell."""
    h, w = size
    first = np.ceil((boxes + 0.5) / stride - 0.5)
    last = np.floor((boxes + 0.5) / stride - 0.5)
    c0 = np.clip(first[:, 0], 0, w - 1)
    r0 = np.clip(first[:, 1], 0, h - 1)
    c1 = np.clip(last[:, 2], c0, w - 1) + 1
    r1 = np.clip(last[:, 3], r0, h - 1) + 1
    return np.stack([r0, r1, c0, c1], axis=1).astype(int)


@dataclass(frozen=True)
class InstanceParams:
    """How detections and their grasps are read from SSG's outputs.

    score_threshold: a detection's score (0..1, 1 - the background's probability) must
    exceed it. nms_iou: Fast NMS overlap threshold. candidates: best-scored anchors kept
    before NMS. max_instances: at most this many detections, best first. mask_threshold:
    instance-mask probability above which a pixel belongs to the instance. jaw_length_px:
    jaw size of every grasp, input px; None gives width / 2 (as grasp_core.postprocess).
    """

    score_threshold: float = 0.3
    nms_iou: float = 0.5
    candidates: int = 100
    max_instances: int = 20
    mask_threshold: float = 0.5
    jaw_length_px: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.candidates < 1 or self.max_instances < 1:
            raise ValueError(
                f"candidates and max_instances must be >= 1, got {self.candidates}, "
                f"{self.max_instances}"
            )
        if not 0.0 < self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must be in (0, 1), got {self.mask_threshold}")
        if self.jaw_length_px is not None and self.jaw_length_px <= 0:
            raise ValueError(f"jaw_length_px must be > 0 px or None, got {self.jaw_length_px}")


@dataclass(frozen=True, eq=False)
class Instance:
    """One detected object, input px.

    instance_id: 1.. in order of score (the id its grasp carries). label: class name, the
    likeliest. score: detection score, 1 - the background's probability, 0..1. box: (x0,
    y0, x1, y1). mask: (h, w) bool on the prototype grid, cropped by the box: cell (i, j)
    covers the input px centred on ((j + 0.5) * mask_stride - 0.5, (i + 0.5) * mask_stride
    - 0.5). mask_stride: input px per mask cell. Masks stay at the resolution the network
    predicts them: upsampling every one to the input costs more than the rest of the
    decoding.
    """

    instance_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray
    mask_stride: float


INSTANCE_OUTPUTS = ("scores", "boxes", "coefficients", "prototypes")
"""Graph outputs of an instance-wise model, batch axis first: scores (B, A, classes + 1)
softmax with background first; boxes (B, A, 4) offsets (decode_boxes); coefficients
(B, A, 5, k); prototypes (B, h, w, k)."""


def check_outputs(outputs: Mapping[str, np.ndarray], metadata: ModelMetadata) -> int:
    """Raise InputError unless ``outputs`` (one image, no batch axis) fit the metadata;
    returns the number of anchors."""
    missing = [name for name in INSTANCE_OUTPUTS if name not in outputs]
    if missing:
        raise InputError(f"instance outputs lack {missing}; got {sorted(outputs)}")
    scores, boxes = outputs["scores"], outputs["boxes"]
    coefficients, prototypes = outputs["coefficients"], outputs["prototypes"]
    a, k, c = len(scores), metadata.prototypes, len(metadata.classes) + 1
    expected = {
        "scores": (a, c),
        "boxes": (a, 4),
        "coefficients": (a, len(COEFFICIENT_SETS), k),
    }
    for name, shape in expected.items():
        if outputs[name].shape != shape:
            raise InputError(f"output {name!r} has shape {outputs[name].shape}, expected {shape}")
    if prototypes.ndim != 3 or prototypes.shape[2] != k:
        raise InputError(f"prototypes have shape {prototypes.shape}, expected (h, w, {k})")
    if len(boxes) != a or len(coefficients) != a:
        raise InputError("scores, boxes and coefficients disagree on the number of anchors")
    return a


def decode_instances(
    outputs: Mapping[str, np.ndarray],
    metadata: ModelMetadata,
    anchors: np.ndarray,
    params: InstanceParams,
) -> tuple[list[Instance], list[ImageGrasp]]:
    """Detections and one grasp per detection, input px, best first.

    outputs: INSTANCE_OUTPUTS of one image (no batch axis). anchors: make_anchors of the
    metadata. A grasp's quality is its detection's score times the peak of its quality
    map, so ranking grasps also ranks how sure the model is that an object is there.
    """
    if check_outputs(outputs, metadata) != len(anchors):
        raise InputError(
            f"the network scores {len(outputs['scores'])} anchors but the metadata's anchor "
            f"spec gives {len(anchors)}"
        )
    # A detection's score is the probability that its anchor holds an object (1 - that of
    # the background), its class the likeliest: on novel objects the shipped SSG often
    # spreads an object's probability over several classes, and the likeliest class's
    # alone missed a third of them (models/ssg.md).
    probabilities = outputs["scores"]
    classes = probabilities[:, 1:].argmax(axis=1)
    scores = 1.0 - probabilities[:, 0]
    keep = np.flatnonzero(scores > params.score_threshold)
    if len(keep) > params.candidates:
        keep = keep[np.argpartition(-scores[keep], params.candidates - 1)[: params.candidates]]
    boxes = decode_boxes(outputs["boxes"][keep], anchors[keep])
    h_in, w_in = metadata.input_size
    boxes = np.clip(boxes, 0, [w_in - 1, h_in - 1, w_in - 1, h_in - 1])
    chosen = fast_nms(boxes, scores[keep], classes[keep], params.nms_iou)[: params.max_instances]
    if not len(chosen):
        return [], []
    keep, boxes = keep[chosen], boxes[chosen]

    prototypes = outputs["prototypes"]
    hp, wp = prototypes.shape[:2]
    stride = h_in / hp
    coefficients = outputs["coefficients"][keep]
    cells = box_cells(boxes, (hp, wp), stride)
    masks = np.zeros((len(keep), hp, wp), bool)
    rows, cols = np.empty(len(keep), int), np.empty(len(keep), int)
    peaks = np.empty(len(keep), np.float32)
    for i, (r0, r1, c0, c1) in enumerate(cells):
        # Only the box's cells are assembled: the crop zeroes everything else anyway, and
        # assembling the whole grid for every detection would cost most of the decoding.
        box_prototypes = prototypes[r0:r1, c0:c1]
        mask, quality = assemble(box_prototypes, coefficients[i : i + 1, :2], GRID_SETS)[0]
        inside = mask > params.mask_threshold
        masks[i, r0:r1, c0:c1] = inside
        # An instance whose mask vanished inside its box still gets the grasp of its box.
        if inside.any():
            quality = np.where(inside, quality, -1.0)
        row, col = np.unravel_index(quality.argmax(), quality.shape)
        rows[i], cols[i], peaks[i] = r0 + row, c0 + col, quality[row, col]
    # Angle and width are only needed at the peak.
    at_peak = np.einsum("nk,nsk->ns", prototypes[rows, cols], coefficients[:, len(GRID_SETS) :])
    return instances_and_grasps(
        Detections(classes[keep], scores[keep], boxes, masks, stride),
        GraspPeaks(rows, cols, peaks, activate(at_peak, COEFFICIENT_SETS[len(GRID_SETS) :])),
        metadata,
        params,
    )


@dataclass(frozen=True, eq=False)
class Detections:
    """The N detections kept by NMS, best score first, input px.

    classes: (N,) index into the metadata's classes. scores: (N,) detection scores, 0..1.
    boxes: (N, 4) corner boxes. masks: (N, h, w) bool instance masks on the prototype grid,
    cropped by the box. stride: input px per mask cell.
    """

    classes: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray
    stride: float


@dataclass(frozen=True, eq=False)
class GraspPeaks:
    """Each detection's grasp: the prototype-grid cell (rows, cols: (N,) int) of its peak
    quality, that quality (peaks: (N,), 0..1), and the activated sin 2θ, cos 2θ and width
    maps there (maps: (N, 3) in that order)."""

    rows: np.ndarray
    cols: np.ndarray
    peaks: np.ndarray
    maps: np.ndarray


def instances_and_grasps(
    detections: Detections, peaks: GraspPeaks, metadata: ModelMetadata, params: InstanceParams
) -> tuple[list[Instance], list[ImageGrasp]]:
    """The Instance of each detection (id 1.. in score order) and its grasp, input px; the
    grasps best first (see decode_instances)."""
    sin2, cos2, width_map = np.asarray(peaks.maps, np.float64).T
    angles = angle_from_maps(cos2, sin2)
    widths = width_from_map(width_map, metadata)
    stride = detections.stride
    instances, grasps = [], []
    for i, (c, score) in enumerate(zip(detections.classes, detections.scores, strict=True)):
        label, score = metadata.classes[c], float(score)
        box = tuple(float(x) for x in detections.boxes[i])
        instances.append(Instance(i + 1, label, score, box, detections.masks[i], stride))
        width = float(widths[i])
        grasps.append(
            ImageGrasp(
                u=float((peaks.cols[i] + 0.5) * stride - 0.5),
                v=float((peaks.rows[i] + 0.5) * stride - 0.5),
                angle=float(angles[i]),
                width=width,
                jaw_length=params.jaw_length_px or max(width / 2, 1.0),
                quality=score * float(np.clip(peaks.peaks[i], 0.0, 1.0)),
                instance_id=i + 1,
                label=label,
            )
        )
    order = sorted(range(len(grasps)), key=lambda j: -grasps[j].quality)
    return instances, [grasps[j] for j in order]


def instance_image(
    instances: Sequence[Instance], crop: CropResize, image_size: tuple[int, int]
) -> np.ndarray:
    """The instances' masks as one label image over the full camera image.

    image_size: (height, width) of the camera image, px. Returns (H, W) uint16: 0 where no
    instance is, else the instance_id of the best-scored instance covering the pixel (the
    id its grasp carries). Each image pixel takes the mask cell under its centre, mapped
    through ``crop``; pixels outside the crop are 0.
    """
    labels = np.zeros(image_size, np.uint16)
    if not instances:
        return labels
    grid = instances[0].mask.shape
    stride = instances[0].mask_stride
    u, v = crop.to_input(np.arange(image_size[1]), np.arange(image_size[0]))
    cols = np.floor((u + 0.5) / stride).astype(np.intp)
    rows = np.floor((v + 0.5) / stride).astype(np.intp)
    inside_u = (cols >= 0) & (cols < grid[1])
    inside_v = (rows >= 0) & (rows < grid[0])
    cells = np.ix_(rows.clip(0, grid[0] - 1), cols.clip(0, grid[1] - 1))
    covered = np.outer(inside_v, inside_u)
    # Worst first, so the best-scored instance wins where masks overlap.
    for instance in sorted(instances, key=lambda i: i.score):
        labels[covered & instance.mask[cells]] = instance.instance_id
    return labels
