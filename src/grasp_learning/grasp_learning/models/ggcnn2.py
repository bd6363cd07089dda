"""GG-CNN2 (Morrison et al.): a small fully convolutional grasp network for CPUs.

Two conv-conv-maxpool stages, two dilated convolutions that widen the receptive field
without downsampling further, then two upsample-conv stages back to full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from grasp_learning.models.heads import GraspHeads


@dataclass(frozen=True)
class GGCNN2Config:
    """Hyper-parameters of GG-CNN2.

    in_channels: 1 for depth, as in the paper (4 for RGB-D). filters: channels of the
    full-, half- and quarter-resolution stages (16, 16, 32 in the paper). stem_kernel:
    the first convolution (11 in the paper). angle_bins: N of 004_b952421ab3ddfc5d.txt.
    """

    in_channels: int = 1
    filters: tuple[int, int, int] = (16, 16, 32)
    stem_kernel: int = 11
    angle_bins: int = 1
    dropout: float = 0.0


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=dilation * (k // 2), dilation=dilation),
        nn.ReLU(inplace=True),
    )


class GGCNN2(nn.Module):
    """(B, in_channels, H, W) -> quality, cos2theta, sin2theta, width, each (B, bins, H, W).

    H and W must be multiples of 4 (two 2x max-pools).
    """

    def __init__(self, config: GGCNN2Config) -> None:
        super().__init__()
        f1, f2, f3 = config.filters
        self.config = config
        self.features = nn.Sequential(
            _conv(config.in_channels, f1, config.stem_kernel),
            _conv(f1, f1, 5),
            nn.MaxPool2d(2),
            _conv(f1, f2, 5),
            _conv(f2, f2, 5),
            nn.MaxPool2d(2),
            _conv(f2, f3, 5, dilation=2),
            _conv(f3, f3, 5, dilation=4),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            _conv(f3, f2, 3),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            _conv(f2, f1, 3),
        )
        self.heads = GraspHeads(f1, config.angle_bins, config.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.heads(self.features(x))
