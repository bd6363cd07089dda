"""The torch grasp networks, built by name from the hyper-parameters stored with them.

The same (architecture, hyper-parameters) pair goes into every ONNX file's metadata, so
any tool can rebuild the torch network an ONNX file came from.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from torch import nn

from grasp_learning.models.ggcnn2 import GGCNN2, GGCNN2Config
from grasp_learning.models.grconvnet import GRConvNet, GRConvNetConfig
from grasp_learning.ssg import SSG, SSGConfig

ARCHITECTURES: dict[str, tuple[type, type]] = {
    "grconvnet": (GRConvNet, GRConvNetConfig),
    "ggcnn2": (GGCNN2, GGCNN2Config),
    "ssg": (SSG, SSGConfig),
}


def build_model(architecture: str, **hyperparameters: Any) -> nn.Module:
    """A fresh network; hyperparameters are fields of the architecture's Config."""
    try:
        model_cls, config_cls = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        ) from None
    known = {f.name: f for f in fields(config_cls)}
    unknown = set(hyperparameters) - set(known)
    if unknown:
        raise ValueError(
            f"{architecture} has no hyper-parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(known)}"
        )
    # JSON turns tuples into lists; the configs are frozen and hashable with tuples.
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in hyperparameters.items()}
    return model_cls(config_cls(**values))


def hyperparameters_of(model: nn.Module) -> dict[str, Any]:
    """The Config of a network built by build_model, as a JSON-ready dict."""
    return asdict(model.config)


__all__ = ["ARCHITECTURES", "GGCNN2", "SSG", "GRConvNet", "build_model", "hyperparameters_of"]
