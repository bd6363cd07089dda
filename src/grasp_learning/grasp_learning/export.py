"""Export a trained network to ONNX with the metadata serving needs.

The graph takes one input named grasp_core.serving.INPUT_NAME of shape (batch, channels,
height, width) with a dynamic batch, and returns the maps named OUTPUT_NAMES, each
(batch, angle_bins, height, width); an SSG network returns grasp_core.instances'
INSTANCE_OUTPUTS instead. The ModelMetadata is stored in the file's
metadata_props, so grasp_core never guesses sizes, normalisation or width scale.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from grasp_core.instances import INSTANCE_OUTPUTS
from grasp_core.metadata import METADATA_KEY, ModelMetadata
from grasp_core.serving import INPUT_NAME, OUTPUT_NAMES
from grasp_learning.inference_form import inference_form
from grasp_learning.models import hyperparameters_of
from grasp_learning.ssg import SSG, DetectionGraph

OPSET = 17


def metadata_for(model: nn.Module, architecture: str, **fields) -> ModelMetadata:
    """ModelMetadata for ``model`` whose modality and angle bins agree with the network.

    fields: input_size (required) and any other ModelMetadata field. An SSG network's
    prototypes and anchors come from its config; its maps have one angle set per object.
    """
    config = model.config
    modality = fields.pop("modality", {1: "depth", 3: "rgb", 4: "rgbd"}.get(config.in_channels))
    if isinstance(model, SSG):
        fields = {"prototypes": config.prototypes, "anchors": config.anchors, **fields}
        if len(fields.get("classes", ())) != config.classes:
            raise ValueError(
                f"the network has {config.classes} classes, the metadata names "
                f"{len(fields.get('classes', ()))}"
            )
    return ModelMetadata(
        architecture=architecture,
        modality=modality,
        angle_bins=getattr(config, "angle_bins", 1),
        hyperparameters=hyperparameters_of(model),
        **fields,
    )


def check_agrees(model: nn.Module, metadata: ModelMetadata) -> None:
    """Raise ValueError if the metadata's channels or angle bins contradict the network."""
    config = model.config
    if metadata.channels != config.in_channels:
        raise ValueError(
            f"metadata modality {metadata.modality!r} means {metadata.channels} input channels "
            f"but the network takes {config.in_channels}"
        )
    bins = getattr(config, "angle_bins", 1)
    if metadata.angle_bins != bins:
        raise ValueError(f"metadata says {metadata.angle_bins} angle bins, the network has {bins}")


def read_onnx_metadata(path: str | Path) -> ModelMetadata:
    """The ModelMetadata an exported file carries, read without loading its weights."""
    model = onnx.load(path, load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    return ModelMetadata.from_json(props[METADATA_KEY])


def exported_module(network: nn.Module) -> tuple[nn.Module, tuple[str, ...]]:
    """The module an inference-form network is exported as, and its output names: SSG is
    exported through its detection head (DetectionGraph), the others as they are."""
    if isinstance(network, SSG):
        return DetectionGraph(network), INSTANCE_OUTPUTS
    return network, OUTPUT_NAMES


def export_onnx(model: nn.Module, metadata: ModelMetadata, path: str | Path) -> Path:
    """Write the inference form of ``model`` (batch norm folded) to ``path`` as ONNX."""
    check_agrees(model, metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    network, outputs = exported_module(inference_form(model).cpu())
    example = torch.zeros(1, metadata.channels, *metadata.input_size)
    dynamic = {name: {0: "batch"} for name in (INPUT_NAME, *outputs)}
    with warnings.catch_warnings():
        # The TorchScript-based exporter is the one that needs no extra package
        # (the dynamo exporter needs onnxscript); it warns that it is legacy.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            network,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(outputs),
            dynamic_axes=dynamic,
            opset_version=OPSET,
        )
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {METADATA_KEY: metadata.to_json()})
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return path
