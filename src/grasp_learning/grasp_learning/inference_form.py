"""The inference form of a trained network: what is exported and what torch eager times.

Batch normalisation is folded into the preceding convolution with its running statistics,
so the exported graph and the torch module that `grasp bench` times hold the same tensors
under the same names (the ONNX initialisers are named after this module's state_dict).

Tried and dropped: replacing each 4x4 stride-2 transposed convolution by a 2x2 convolution
over its four output phases. The convolution itself ran 3x faster in ONNX Runtime, but
interleaving the phases (Transpose or DepthToSpace) cost more than was saved.
"""

from __future__ import annotations

import copy
import itertools

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _fold_batch_norm(module: nn.Module) -> None:
    """In place: each conv followed by BatchNorm2d in a Sequential -> the folded conv."""
    for child in module.children():
        _fold_batch_norm(child)
    if not isinstance(module, nn.Sequential):
        return
    names = list(module._modules)
    for first, second in itertools.pairwise(names):
        conv, bn = module._modules[first], module._modules[second]
        if isinstance(bn, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d | nn.ConvTranspose2d):
            transpose = isinstance(conv, nn.ConvTranspose2d)
            module._modules[first] = fuse_conv_bn_eval(conv, bn, transpose=transpose)
            module._modules[second] = nn.Identity()


def inference_form(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with batch norm folded; ``model`` is untouched."""
    model = copy.deepcopy(model).eval()
    _fold_batch_norm(model)
    return model
