"""torch eager figures for `grasp bench`: the ONNX file's own weights run by torch.

The network is rebuilt from the architecture and hyper-parameters in the file's metadata,
in its inference form, and loaded with the file's weights, so both runtimes time the same
tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from grasp_core.bench import median_ms
from grasp_core.metadata import ModelMetadata
from grasp_learning.export import exported_module
from grasp_learning.flops import count_flops
from grasp_learning.inference_form import inference_form
from grasp_learning.models import build_model


def onnx_weights(model_path: str | Path) -> dict[str, np.ndarray]:
    """Initialisers of an exported graph by their torch state_dict names.

    The exporter stores initialisers of equal value once and names the others through
    Identity nodes (the zero biases of an untrained network, say); those names resolve here.
    """
    graph = onnx.load(str(model_path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    return weights


def load_onnx_weights(model_path: str | Path, metadata: ModelMetadata) -> nn.Module:
    """The inference-form torch network holding the weights of ``model_path``."""
    network, _ = exported_module(
        inference_form(build_model(metadata.architecture, **metadata.hyperparameters))
    )
    fill_from_onnx(network, model_path, metadata)
    return network


def fill_from_onnx(network: nn.Module, model_path: str | Path, metadata: ModelMetadata) -> None:
    """Load the weights of ``model_path`` into ``network``, the exported module of an
    inference-form network (grasp_learning.export.exported_module). Raises ValueError when
    the file lacks some of them or holds them in other shapes."""
    weights = onnx_weights(model_path)
    state = network.state_dict()
    shape = (1, metadata.channels, *metadata.input_size)
    # Training-only parts (SSG's semantic head) run in no exported forward: the graph has
    # no weights for them, and neither timing nor fine-tuning from the file needs them.
    missing = sorted(set(state) - set(weights) - unused_in_forward(network, shape))
    if missing:
        raise ValueError(
            f"{model_path} lacks weights for {', '.join(missing[:3])}: it was not exported by "
            f"grasp_learning.export from {metadata.architecture} {metadata.hyperparameters}"
        )
    try:
        network.load_state_dict(
            {name: torch.from_numpy(weights[name].copy()) for name in state if name in weights},
            strict=False,
        )
    except RuntimeError as err:  # a weight of another shape
        raise ValueError(f"{model_path}: {err}") from None


def unused_in_forward(network: nn.Module, shape: tuple[int, ...]) -> set[str]:
    """state_dict names of the modules a forward on a zero input of ``shape`` never calls."""
    called: set[str] = set()
    hooks = [
        module.register_forward_hook(lambda *_, name=name: called.add(name))
        for name, module in network.named_modules()
    ]
    device = next(network.parameters()).device
    with torch.inference_mode():
        network(torch.zeros(shape, device=device))
    for hook in hooks:
        hook.remove()
    return {
        f"{module_name}.{key}" if module_name else key
        for module_name, module in network.named_modules()
        if module_name not in called
        for key in module.state_dict(keep_vars=True)
        if "." not in key
    }


def torch_eager_figures(
    model_path: str | Path, metadata: ModelMetadata, runs: int, threads: int
) -> dict:
    """GFLOPs of the network and torch eager medians, ms, on the CPU and on CUDA if present."""
    network = load_onnx_weights(model_path, metadata)
    shape = (1, metadata.channels, *metadata.input_size)
    figures: dict = {"gflops": round(count_flops(network, shape) / 1e9, 3), "median_ms": {}}
    torch.set_num_threads(threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        net = network.to(device)
        x = torch.zeros(shape, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

        def run(net=net, x=x, sync=sync) -> None:
            net(x)
            sync()

        with torch.inference_mode():
            figures["median_ms"][f"torch-eager-{device}"] = median_ms(run, runs)
    return figures
