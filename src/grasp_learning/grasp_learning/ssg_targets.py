"""SSG training targets from a sample's instance masks and instance-labelled grasps.

After 000_82e8763e29e0cd96.txt (sec. III-A, III-C, Fig. 2): each object's grasp rectangles
are drawn into its own masks at prototype resolution: the grasp position (1 where the
centre third of any rectangle lies), the grasp quality (2 sigmoid(n) - 1 = tanh(n / 2)
of the number n of rectangles covering a pixel, the paper's sigmoid of the overlap count
moved so that no grasp gives 0), sin 2θ, cos 2θ and the width map (the narrowest
rectangle wins where they overlap, as in grasp_learning.targets). Anchors are matched to
the objects' boxes as in YOLACT: IoU >= 0.5 positive, < 0.4 background, in between
ignored, and every object's best anchor positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from grasp_core.datasets import Dataset
from grasp_core.datasets.sample import BACKGROUND, Sample
from grasp_core.geometry import corners_from_params, grasps_to_array
from grasp_core.grasp import ImageGrasp
from grasp_core.instances import box_iou, centre_to_corners, encode_boxes, make_anchors
from grasp_core.metadata import ModelMetadata
from grasp_core.postprocess import angle_to_maps, width_to_map
from grasp_learning.augment import Augmentation, input_map, map_grasp, network_input
from grasp_learning.ssg import PROTOTYPE_STRIDE

SEMANTIC_STRIDE = 8
IGNORE = -1


@dataclass(frozen=True)
class MatchParams:
    """positive_iou / negative_iou: anchor-box IoU thresholds. max_instances: objects kept
    per image (the largest; also the padded size of the per-object targets).
    min_area_px: objects with fewer visible input px are dropped."""

    positive_iou: float = 0.5
    negative_iou: float = 0.4
    max_instances: int = 24
    min_area_px: int = 16


def match_anchors(
    anchors: np.ndarray, boxes: np.ndarray, classes: np.ndarray, params: MatchParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per anchor (A, 4) cx cy w h: class label (0 background, IGNORE, 1.. classes), index
    of the matched box, and the box regression target; boxes (M, 4) corners, classes (M,)
    1-based."""
    a = len(anchors)
    labels = np.zeros(a, np.int64)
    matched = np.zeros(a, np.int64)
    targets = np.zeros((a, 4), np.float32)
    if not len(boxes):
        return labels, matched, targets
    iou = box_iou(centre_to_corners(anchors), boxes)
    matched = iou.argmax(axis=1)
    best = iou[np.arange(a), matched]
    # Each object keeps its best anchor, even below positive_iou, so none goes unlearnt.
    forced = iou.argmax(axis=0)
    matched[forced] = np.arange(len(boxes))
    best[forced] = 1.0
    labels = np.where(best >= params.positive_iou, classes[matched], 0)
    labels[(best >= params.negative_iou) & (best < params.positive_iou)] = IGNORE
    targets = encode_boxes(boxes[matched], anchors)
    return labels.astype(np.int64), matched.astype(np.int64), targets


def instance_grasp_maps(
    grasps: Sequence[ImageGrasp], size: tuple[int, int], metadata: ModelMetadata
) -> np.ndarray:
    """(5, h, w) float32 of one object's grasps (input px) on the prototype grid of ``size``:
    quality, position, sin 2θ, cos 2θ, width map (see the module docstring)."""
    h, w = size
    s = PROTOTYPE_STRIDE
    count = np.zeros((h, w), np.float32)
    angle = np.zeros((h, w), np.float64)
    width_px = np.zeros((h, w), np.float32)
    ordered = sorted(grasps, key=lambda g: g.width, reverse=True)
    params = grasps_to_array(ordered)
    u, v = (params[:, 0] + 0.5) / s - 0.5, (params[:, 1] + 0.5) / s - 0.5
    thirds = corners_from_params(u, v, params[:, 2], params[:, 3] / 3 / s, params[:, 4] / s)
    thirds = np.round(thirds).astype(np.int32)
    rows, cols = np.round(v).astype(int), np.round(u).astype(int)
    cell = np.zeros((h, w), np.uint8)
    for g, third, row, col in zip(ordered, thirds, rows, cols, strict=True):
        cell[:] = 0
        cv2.fillConvexPoly(cell, third, 1)
        if 0 <= row < h and 0 <= col < w:
            # A rectangle narrower than a cell still marks the cell of its centre.
            cell[row, col] = 1
        inside = cell.astype(bool)
        count[inside] += 1
        angle[inside] = g.angle
        width_px[inside] = g.width
    position = count > 0
    cos2, sin2 = angle_to_maps(angle)
    return np.stack(
        [
            np.tanh(count / 2),
            position,
            np.where(position, sin2, 0),
            np.where(position, cos2, 0),
            np.where(position, np.clip(width_to_map(width_px, metadata), 0, 1), 0),
        ]
    ).astype(np.float32)


def _downsample(mask: np.ndarray, stride: int) -> np.ndarray:
    """A bool (H, W) mask at 1 / stride resolution: cells more than half covered."""
    h, w = mask.shape
    size = (-(-w // stride), -(-h // stride))
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5


def ssg_example(
    sample: Sample,
    metadata: ModelMetadata,
    rng: np.random.Generator,
    augmentation: Augmentation,
    anchors: np.ndarray,
    params: MatchParams = MatchParams(),
) -> tuple[np.ndarray, dict[str, np.ndarray], list[ImageGrasp]]:
    """Network input (C, H, W), the targets of ssg_loss (one image) and the grasps in
    input px, under one random affine map of grasp_learning.augment."""
    if sample.instance_mask is None:
        raise ValueError(f"{sample.name}: SSG trains on instance masks; this sample has none")
    matrix, rotation, scale = input_map(sample.depth.shape, metadata, rng, augmentation)
    h, w = metadata.input_size
    x = network_input(sample, metadata, matrix)
    instance = cv2.warpAffine(
        sample.instance_mask.astype(np.float32),
        matrix,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=BACKGROUND,
    ).astype(np.int32)
    grasps = [map_grasp(g, matrix, rotation, scale) for g in sample.grasps]
    grasps = [g for g in grasps if 0 <= g.u < w and 0 <= g.v < h]

    ids, areas = np.unique(instance[instance != BACKGROUND], return_counts=True)
    ids = ids[areas >= params.min_area_px]
    ids = ids[np.argsort(-areas[areas >= params.min_area_px], kind="stable")]
    ids = ids[: params.max_instances]
    m, c = params.max_instances, len(metadata.classes)
    hp, wp = -(-h // PROTOTYPE_STRIDE), -(-w // PROTOTYPE_STRIDE)
    gt_boxes = np.zeros((m, 4), np.float32)
    gt_masks = np.zeros((m, hp, wp), np.float32)
    gt_grasp = np.zeros((m, 5, hp, wp), np.float32)
    has_grasp = np.zeros(m, np.float32)
    semantic = np.zeros((c, -(-h // SEMANTIC_STRIDE), -(-w // SEMANTIC_STRIDE)), np.float32)
    classes = np.zeros(len(ids), np.int64)
    for i, object_id in enumerate(ids):
        label = sample.labels.get(int(object_id))
        if label not in metadata.classes:
            raise ValueError(
                f"{sample.name}: object {object_id} has label {label!r}, not one of the "
                f"model's classes {metadata.classes}"
            )
        classes[i] = metadata.classes.index(label) + 1
        mask = instance == object_id
        vs, us = np.nonzero(mask)
        gt_boxes[i] = (us.min(), vs.min(), us.max(), vs.max())
        gt_masks[i] = _downsample(mask, PROTOTYPE_STRIDE)
        semantic[classes[i] - 1] = np.maximum(
            semantic[classes[i] - 1], _downsample(mask, SEMANTIC_STRIDE)
        )
        own = [g for g in grasps if g.instance_id == object_id]
        if own:
            gt_grasp[i] = instance_grasp_maps(own, (hp, wp), metadata)
            has_grasp[i] = 1.0
    labels, matched, box_targets = match_anchors(anchors, gt_boxes[: len(ids)], classes, params)
    targets = {
        "labels": labels,
        "matched": matched,
        "box_targets": box_targets,
        "gt_boxes": gt_boxes,
        "gt_masks": gt_masks,
        "gt_grasp": gt_grasp,
        "has_grasp": has_grasp,
        "semantic": semantic,
    }
    return x, targets, grasps


class SSGDataset(torch.utils.data.Dataset):
    """Network inputs and ssg_loss targets of a dataset, augmented on the fly; keyed by
    (epoch, index) as grasp_learning.train.EpochSampler draws them."""

    def __init__(
        self, data: Dataset, metadata: ModelMetadata, augmentation: Augmentation, seed: int
    ):
        self.data, self.metadata, self.augmentation, self.seed = data, metadata, augmentation, seed
        self.anchors = make_anchors(metadata.input_size, metadata.anchors)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        x, targets, _ = ssg_example(
            self.data[index], self.metadata, rng, self.augmentation, self.anchors
        )
        return torch.from_numpy(x), {k: torch.from_numpy(v) for k, v in targets.items()}
