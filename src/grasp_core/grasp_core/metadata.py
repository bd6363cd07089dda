"""Model metadata that travels inside every ONNX file the stack ships.

Serving must never guess how a network was trained: the input size, how inputs were
normalised, how many angle bins the angle maps use, the width scale and the class names are
written into the ONNX file's ``metadata_props`` under one key at export and read back by the
predictor, which checks them against the graph.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

METADATA_KEY = "grasp_stack"

ARCHITECTURES = ("grconvnet", "ggcnn2", "ssg")
MODALITIES = {"rgbd": 4, "depth": 1, "rgb": 3}


class MetadataError(ValueError):
    """The model's metadata is missing, malformed or contradicts the graph."""


@dataclass(frozen=True)
class Normalization:
    """How network inputs are made from metric depth and 8-bit RGB.

    The single definition shared by training, export and serving (grasp_core.preprocess
    applies it). Depth, m: minus its mean over the valid pixels of the network input, then
    clipped to +/- depth_clip_m. RGB: times rgb_scale (8-bit -> 0..1), then minus the mean
    of the image when rgb_centre is true.
    """

    depth_clip_m: float = 1.0
    rgb_scale: float = 1.0 / 255.0
    rgb_centre: bool = True


@dataclass(frozen=True)
class AnchorSpec:
    """Anchor boxes of an instance-wise detector (grasp_core.instances.make_anchors).

    strides: px of the network input per feature cell of each pyramid level, finest first.
    sizes: the square anchor's side at each level, input px. aspect_ratios: width / height
    of the anchors at every cell, each with the area of the level's square anchor.
    """

    strides: tuple[int, ...] = (8, 16, 32)
    sizes: tuple[float, ...] = (24.0, 48.0, 96.0)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)

    def __post_init__(self) -> None:
        if len(self.strides) != len(self.sizes) or not self.strides:
            raise MetadataError(
                f"anchors need one size per stride, got strides {self.strides}, sizes {self.sizes}"
            )
        if min(self.strides) < 1 or min(self.sizes) <= 0 or min(self.aspect_ratios) <= 0:
            raise MetadataError(f"anchor strides, sizes and aspect ratios must be > 0: {self}")
        for name in ("strides", "sizes", "aspect_ratios"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class ModelMetadata:
    """What serving needs to know about a network. Sizes in px of the network input.

    architecture: one of ARCHITECTURES. input_size: (height, width). modality: key of
    MODALITIES, fixing the channel count and order (RGB then depth for 'rgbd').
    angle_bins: N angle-map pairs (004_b952421ab3ddfc5d.txt), 1 for classic GR-ConvNet.
    width_scale: px at the network input per unit of the width map (the map is in 0..1).
    classes: class names in output order; empty for class-agnostic models.
    hyperparameters: the network's own configuration (grasp_learning's Config fields), so
    tools can rebuild the torch network an ONNX file came from; serving ignores it.
    prototypes: k, the prototype masks of an instance-wise model (0 for pixel-wise ones).
    anchors: its anchor boxes (None for pixel-wise models).
    """

    architecture: str
    input_size: tuple[int, int]
    modality: str = "rgbd"
    angle_bins: int = 1
    width_scale: float = 150.0
    classes: tuple[str, ...] = ()
    normalization: Normalization = field(default_factory=Normalization)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    prototypes: int = 0
    anchors: AnchorSpec | None = None

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise MetadataError(
                f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}"
            )
        if self.modality not in MODALITIES:
            raise MetadataError(f"modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        if len(self.input_size) != 2 or min(self.input_size) <= 0:
            raise MetadataError(f"input_size must be (height, width) > 0, got {self.input_size}")
        if self.angle_bins < 1:
            raise MetadataError(f"angle_bins must be >= 1, got {self.angle_bins}")
        if self.width_scale <= 0:
            raise MetadataError(f"width_scale must be > 0 px, got {self.width_scale}")
        if self.architecture == "ssg" and (
            self.prototypes < 1 or self.anchors is None or not self.classes
        ):
            raise MetadataError(
                "an ssg model needs prototypes >= 1, anchors and class names in its metadata, "
                f"got prototypes={self.prototypes}, anchors={self.anchors}, classes={self.classes}"
            )

    @property
    def channels(self) -> int:
        """Number of input channels implied by the modality."""
        return MODALITIES[self.modality]

    def to_json(self) -> str:
        """Serialise for ``metadata_props[METADATA_KEY]``."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        """Parse what ``to_json`` wrote; raises MetadataError on anything else."""
        try:
            raw = json.loads(text)
            return cls(
                architecture=raw["architecture"],
                input_size=tuple(int(x) for x in raw["input_size"]),
                modality=raw["modality"],
                angle_bins=int(raw["angle_bins"]),
                width_scale=float(raw["width_scale"]),
                classes=tuple(str(c) for c in raw.get("classes", ())),
                normalization=Normalization(**raw.get("normalization", {})),
                hyperparameters=dict(raw.get("hyperparameters", {})),
                prototypes=int(raw.get("prototypes", 0)),
                anchors=AnchorSpec(**raw["anchors"]) if raw.get("anchors") else None,
            )
        except MetadataError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise MetadataError(
                f"model metadata under {METADATA_KEY!r} is malformed: {err}"
            ) from err
