"""SSG: single-stage instance-wise grasp synthesis (000_82e8763e29e0cd96.txt, sec. III).

A ResNet (written here: no pretrained weights are used) with a feature pyramid over its
stride 8, 16 and 32 stages (P3, P4, P5); a ProtoNet on P3 that predicts k prototype masks
at stride 4; one anchor head shared by the pyramid levels that predicts, per anchor, class
scores, a box offset and five sets of k coefficients (grasp_core.instances.COEFFICIENT_SETS);
and, for training only, the semantic-segmentation head on P3 that the paper adds to speed
up convergence. The loss is the paper's eq. (1).

The paper's backbone is ResNet-101; ``blocks`` and ``widths`` make it a ResNet-18-like
(2, 2, 2, 2) network by default, or ResNet-34-like with (3, 4, 6, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from grasp_core.instances import COEFFICIENT_SETS
from grasp_core.metadata import AnchorSpec

STRIDES = (8, 16, 32)
"""Input px per cell of P3, P4, P5: the pyramid levels that carry anchors."""
PROTOTYPE_STRIDE = 4
"""Input px per prototype-mask cell (P3 upsampled twice, as in YOLACT)."""
BACKBONES = {
    "resnet18-slim": ((2, 2, 2, 2), (32, 64, 128, 256)),
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet34": ((3, 4, 6, 3), (64, 128, 256, 512)),
}
"""SSGConfig (blocks, widths) of the named ResNet layouts; -slim halves every width."""


@dataclass(frozen=True)
class SSGConfig:
    """Hyper-parameters of SSG.

    in_channels: 4 for RGB-D. classes: object classes (background excluded). blocks: basic
    residual blocks per ResNet stage (strides 4, 8, 16, 32). widths: channels of those
    stages. fpn_channels: channels of every pyramid level, ProtoNet and head. prototypes: k
    (32 in the paper). anchor_sizes: square anchor side at P3, P4, P5, input px.
    aspect_ratios: anchor width / height at every cell.
    """

    in_channels: int = 4
    classes: int = 7
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    fpn_channels: int = 64
    prototypes: int = 32
    anchor_sizes: tuple[float, ...] = (24.0, 48.0, 96.0)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)

    @property
    def anchors(self) -> AnchorSpec:
        """The anchor boxes the head predicts for (grasp_core.instances.make_anchors)."""
        return AnchorSpec(STRIDES, self.anchor_sizes, self.aspect_ratios)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with a shortcut (1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(c_in, c_out, 3, stride), nn.ReLU(inplace=True), _conv_bn(c_out, c_out, 3)
        )
        self.shortcut = (
            _conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Stem (7x7 stride-2 convolution, 3x3 stride-2 max-pool) and four stages of basic blocks;
    returns the stride 8, 16 and 32 features (C3, C4, C5)."""

    def __init__(self, in_channels: int, blocks: tuple[int, ...], widths: tuple[int, ...]):
        super().__init__()
        if len(blocks) != 4 or len(widths) != 4:
            raise ValueError(f"ResNet needs four stages, got blocks {blocks}, widths {widths}")
        self.stem = nn.Sequential(
            _conv_bn(in_channels, widths[0], 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        stages, c_in = [], widths[0]
        for index, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            stride = 1 if index == 0 else 2
            layers = [BasicBlock(c_in, width, stride)]
            layers += [BasicBlock(width, width, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            c_in = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features[1:]


class FPN(nn.Module):
    """Feature pyramid: 1x1 lateral convolutions, nearest upsampling top-down, 3x3 smoothing."""

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.lateral[-1](features[-1])
        levels = [x]
        for lateral, feature in zip(self.lateral[-2::-1], features[-2::-1], strict=True):
            x = lateral(feature) + F.interpolate(x, size=feature.shape[-2:], mode="nearest")
            levels.insert(0, x)
        return [F.relu(smooth(level)) for smooth, level in zip(self.smooth, levels, strict=True)]


class ProtoNet(nn.Module):
    """k prototype masks at PROTOTYPE_STRIDE from P3, ReLU-activated as in YOLACT."""

    def __init__(self, channels: int, prototypes: int) -> None:
        super().__init__()
        self.before = nn.Sequential(
            *(m for _ in range(3) for m in (nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()))
        )
        self.after = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, prototypes, 1),
            nn.ReLU(),
        )

    def forward(self, p3: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.before(p3), scale_factor=2, mode="bilinear", align_corners=False)
        return self.after(x)


class AnchorHead(nn.Module):
    """Per anchor: class logits (background first), box offset, five coefficient sets."""

    def __init__(self, channels: int, classes: int, prototypes: int, per_cell: int) -> None:
        super().__init__()
        self.classes, self.prototypes, self.per_cell = classes, prototypes, per_cell
        self.tower = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.score = nn.Conv2d(channels, per_cell * (classes + 1), 3, padding=1)
        self.box = nn.Conv2d(channels, per_cell * 4, 3, padding=1)
        sets = len(COEFFICIENT_SETS)
        self.coefficients = nn.Conv2d(channels, per_cell * sets * prototypes, 3, padding=1)

    @staticmethod
    def _anchor_major(x: torch.Tensor, per_cell: int) -> torch.Tensor:
        # (B, R * X, h, w) -> (B, h * w * R, X): cells row-major, then aspect ratios,
        # the order of grasp_core.instances.make_anchors.
        b, _, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, h * w * per_cell, -1)

    def forward(self, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.tower(level)
        r = self.per_cell
        coefficients = self._anchor_major(self.coefficients(x), r)
        return (
            self._anchor_major(self.score(x), r),
            self._anchor_major(self.box(x), r),
            coefficients.reshape(*coefficients.shape[:2], len(COEFFICIENT_SETS), -1),
        )


class SSG(nn.Module):
    """(B, in_channels, H, W) -> dict of training outputs; H and W multiples of 32.

    logits (B, A, classes + 1), boxes (B, A, 4), coefficients (B, A, 5, k), prototypes
    (B, H/4, W/4, k), semantic (B, classes, H/8, W/8) logits. ``detect`` gives the
    deployed outputs (grasp_core.instances.INSTANCE_OUTPUTS) without the semantic head.
    """

    def __init__(self, config: SSGConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ResNet(config.in_channels, config.blocks, config.widths)
        self.fpn = FPN(config.widths[1:], config.fpn_channels)
        self.protonet = ProtoNet(config.fpn_channels, config.prototypes)
        self.head = AnchorHead(
            config.fpn_channels, config.classes, config.prototypes, len(config.aspect_ratios)
        )
        self.semantic = nn.Conv2d(config.fpn_channels, config.classes, 1)

    def _shared(self, x: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        levels = self.fpn(self.backbone(x))
        logits, boxes, coefficients = (
            torch.cat(parts, 1) for parts in zip(*(self.head(p) for p in levels), strict=True)
        )
        prototypes = self.protonet(levels[0]).permute(0, 2, 3, 1)
        return levels, {
            "logits": logits,
            "boxes": boxes,
            "coefficients": coefficients,
            "prototypes": prototypes,
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        levels, out = self._shared(x)
        out["semantic"] = self.semantic(levels[0])
        return out

    def detect(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """scores (softmax), boxes, coefficients, prototypes: INSTANCE_OUTPUTS order."""
        _, out = self._shared(x)
        return out["logits"].softmax(-1), out["boxes"], out["coefficients"], out["prototypes"]


class DetectionGraph(nn.Module):
    """The exported form: ``forward`` is SSG.detect."""

    def __init__(self, model: SSG) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.detect(x)


@dataclass(frozen=True)
class LossWeights:
    """The alphas of eq. (1) and of its grasp term. cls, box and imask follow YOLACT
    (1, 1.5, 6.125), which the paper adopts for those terms; negatives_per_positive is
    YOLACT's 3:1 hard-negative mining; max_masks caps the positive anchors whose masks are
    assembled per batch (a random subset), bounding memory."""

    cls: float = 1.0
    box: float = 1.5
    imask: float = 6.125
    grasp: float = 6.125
    smask: float = 1.0
    position: float = 1.0
    quality: float = 1.0
    sin: float = 1.0
    cos: float = 1.0
    width: float = 1.0
    negatives_per_positive: int = 3
    max_masks: int = 256


def _crop(boxes: torch.Tensor, size: tuple[int, int], stride: float) -> torch.Tensor:
    """(N, h, w) float: cells of stride input px whose centre lies in each box (N, 4)."""
    h, w = size
    device = boxes.device
    cu = (torch.arange(w, device=device) + 0.5) * stride - 0.5
    cv = (torch.arange(h, device=device) + 0.5) * stride - 0.5
    inside_u = (cu[None] >= boxes[:, 0:1]) & (cu[None] <= boxes[:, 2:3])
    inside_v = (cv[None] >= boxes[:, 1:2]) & (cv[None] <= boxes[:, 3:4])
    return (inside_v[:, :, None] & inside_u[:, None, :]).float()


def ssg_loss(
    out: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    weights: LossWeights = LossWeights(),
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. (1): a_cls l_cls + a_box l_box + a_imask l_imask + a_gr l_gr + a_smask l_smask.

    out: SSG.forward. target: grasp_learning.ssg_targets.SSGTargets.tensors, batched.
    l_cls: softmax cross-entropy over positives and mined negatives; l_box: smooth L1 of the
    offsets of positives; l_imask: per-pixel BCE of the assembled mask in the ground-truth
    box, over the box area (YOLACT); l_gr: BCE of the quality map against the grasp
    position mask (l_gr-p), smooth L1 of the quality map against the graded quality
    (l_gr-q), both in the box of every object (all zero on one without grasps), and smooth
    L1 of sin 2θ, cos 2θ and width on the grasp position pixels; l_smask: per-class BCE
    of the semantic logits. Returns the total and its parts for logging.
    """
    labels = target["labels"]
    positive = labels > 0
    num_pos = positive.sum().clamp(min=1).float()

    # Hard negatives: the background anchors the network finds least background-like.
    logits = out["logits"]
    log_p = F.log_softmax(logits, -1)
    background_loss = -log_p[..., 0].detach()
    background_loss[labels != 0] = -1.0
    rank = background_loss.argsort(1, descending=True).argsort(1)
    negatives_allowed = positive.sum(1, keepdim=True) * weights.negatives_per_positive
    negative = (labels == 0) & (rank < negatives_allowed.clamp(min=weights.negatives_per_positive))
    chosen = positive | negative
    l_cls = F.nll_loss(log_p[chosen], labels[chosen], reduction="sum") / num_pos
    l_box = F.smooth_l1_loss(
        out["boxes"][positive], target["box_targets"][positive], reduction="sum"
    )
    l_box = l_box / num_pos

    b_idx, a_idx = positive.nonzero(as_tuple=True)
    if len(b_idx) > weights.max_masks:
        pick = torch.randperm(len(b_idx), device=b_idx.device)[: weights.max_masks]
        b_idx, a_idx = b_idx[pick], a_idx[pick]
    m_idx = target["matched"][b_idx, a_idx]
    prototypes = out["prototypes"][b_idx]
    linear = torch.einsum("phwk,psk->pshw", prototypes, out["coefficients"][b_idx, a_idx])
    hp, wp = prototypes.shape[1:3]
    crop = _crop(target["gt_boxes"][b_idx, m_idx], (hp, wp), PROTOTYPE_STRIDE)
    area = crop.sum((1, 2)).clamp(min=1)

    gt_mask = target["gt_masks"][b_idx, m_idx]
    l_imask = F.binary_cross_entropy_with_logits(linear[:, 0], gt_mask, reduction="none") * crop
    l_imask = (l_imask.sum((1, 2)) / area).mean() if len(b_idx) else logits.sum() * 0

    grasp = target["gt_grasp"][b_idx, m_idx]
    has = target["has_grasp"][b_idx, m_idx]
    quality_gt, position_gt, sin_gt, cos_gt, width_gt = grasp.unbind(1)
    per_pixel = {
        "position": F.binary_cross_entropy_with_logits(linear[:, 1], position_gt, reduction="none")
        * crop,
        "quality": F.smooth_l1_loss(torch.sigmoid(linear[:, 1]), quality_gt, reduction="none")
        * crop,
    }
    grasp_pixels = position_gt.sum((1, 2)).clamp(min=1)
    on_grasp = {
        "sin": F.smooth_l1_loss(torch.tanh(linear[:, 2]), sin_gt, reduction="none"),
        "cos": F.smooth_l1_loss(torch.tanh(linear[:, 3]), cos_gt, reduction="none"),
        "width": F.smooth_l1_loss(torch.sigmoid(linear[:, 4]), width_gt, reduction="none"),
    }
    has_count = has.sum().clamp(min=1)
    # Quality and position over every object, those without a grasp included: their
    # all-zero maps are what teaches the network that an object has no grasp (the labeller
    # finds none on about 40 % of the objects on a cluttered table; with only the objects
    # that had grasps, half of the held-out misses were top grasps on such objects).
    grasp_parts = {name: (loss.sum((1, 2)) / area).mean() for name, loss in per_pixel.items()}
    grasp_parts.update(
        {
            name: ((loss * position_gt).sum((1, 2)) / grasp_pixels * has).sum() / has_count
            for name, loss in on_grasp.items()
        }
    )
    l_gr = sum(getattr(weights, name) * value for name, value in grasp_parts.items())
    l_smask = F.binary_cross_entropy_with_logits(out["semantic"], target["semantic"])

    parts = {"cls": l_cls, "box": l_box, "imask": l_imask, "grasp": l_gr, "smask": l_smask}
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}


__all__ = [
    "BACKBONES",
    "PROTOTYPE_STRIDE",
    "SSG",
    "STRIDES",
    "DetectionGraph",
    "LossWeights",
    "SSGConfig",
    "ssg_loss",
]
