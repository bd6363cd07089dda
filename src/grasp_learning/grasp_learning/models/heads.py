"""The four pixel-wise output maps shared by GR-ConvNet and GG-CNN2."""

from __future__ import annotations

import torch
from torch import nn

from grasp_core.serving import OUTPUT_NAMES


class GraspHeads(nn.Module):
    """1x1 convolutions from features to quality, cos 2θ, sin 2θ and width, each with one
    channel per angle bin, in the order of grasp_core.serving.OUTPUT_NAMES.

    The maps stay linear (no sigmoid/tanh): the targets are regressed directly, and
    grasp_core.postprocess clips quality and width into their ranges.
    """

    def __init__(self, in_channels: int, angle_bins: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.maps = nn.ModuleDict(
            {name: nn.Conv2d(in_channels, angle_bins, 1) for name in OUTPUT_NAMES}
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.dropout(features)
        return tuple(head(features) for head in self.maps.values())
