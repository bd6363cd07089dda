"""GR-ConvNet: the generative residual convolutional network for pixel-wise grasps.

Kumra et al.'s encoder / residual bottleneck / decoder, with the extensions of
004_b952421ab3ddfc5d.txt: N angle bins (one quality, cos 2θ, sin 2θ and width map per bin).
Every convolution except the heads is followed by batch normalisation and ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from grasp_learning.models.heads import GraspHeads


def conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut, at constant resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(nn.Conv2d(channels, channels, 3, padding=1, bias=False), channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


@dataclass(frozen=True)
class GRConvNetConfig:
    """Hyper-parameters of GR-ConvNet.

    in_channels: 4 for RGB-D. channels: base width C (the bottleneck has 4C). residual_blocks:
    5 in the paper. stem_kernel / out_kernel: the full-resolution first and last
    convolutions; the paper's 9x9 output convolution costs 36 % of the 32-channel network's
    FLOPs for no measured accuracy gain in 004, so 3x3 is the default. angle_bins: N of 004.
    dropout: before the heads, training only.
    """

    in_channels: int = 4
    channels: int = 32
    residual_blocks: int = 5
    stem_kernel: int = 9
    out_kernel: int = 3
    angle_bins: int = 1
    dropout: float = 0.1


class GRConvNet(nn.Module):
    """(B, in_channels, H, W) -> quality, cos2theta, sin2theta, width, each (B, bins, H, W).

    H and W must be multiples of 4 (two stride-2 stages).
    """

    def __init__(self, config: GRConvNetConfig) -> None:
        super().__init__()
        c, k = config.channels, config.stem_kernel
        self.config = config
        self.encoder = nn.Sequential(
            conv_bn_relu(nn.Conv2d(config.in_channels, c, k, padding=k // 2, bias=False), c),
            conv_bn_relu(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=False), 2 * c),
            conv_bn_relu(nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1, bias=False), 4 * c),
        )
        self.bottleneck = nn.Sequential(
            *(ResidualBlock(4 * c) for _ in range(config.residual_blocks))
        )
        k = config.out_kernel
        self.decoder = nn.Sequential(
            conv_bn_relu(nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, padding=1, bias=False), 2 * c),
            conv_bn_relu(nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1, bias=False), c),
            conv_bn_relu(nn.Conv2d(c, c, k, padding=k // 2, bias=False), c),
        )
        self.heads = GraspHeads(c, config.angle_bins, config.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.heads(self.decoder(self.bottleneck(self.encoder(x))))
