"""Arithmetic work of a network, counted from the layers a forward pass actually runs."""

from __future__ import annotations

import torch
from torch import nn


def _macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose2d):
        # Every input pixel scatters a (Cout / groups) x kh x kw block.
        kh, kw = module.kernel_size
        per_input = module.out_channels // module.groups * kh * kw
        return inputs[0].numel() * per_input
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups * kh * kw)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on a zero tensor of ``input_shape`` (batch included).

    2 FLOPs per multiply-accumulate of the convolutions and linear layers; bias, batch
    norm, activations, pooling and resampling are left out (under 1 % for these networks),
    which keeps the figure comparable with the fp32 peak of a CPU's FMA units.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += 2 * _macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return total
