"""The workspace: the axis-aligned box of the base frame that grasps must stay inside.

Limits come from the per-arm YAML (``workspace: {lower: [x, y, z], upper: [x, y, z]}``, m,
base frame); no grasp outside the box is published or commanded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


@dataclass(frozen=True)
class Workspace:
    """Box [lower, upper] (each (3,), m) in the base frame; bounds are inside."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, np.float64)
        upper = np.asarray(self.upper, np.float64)
        if lower.shape != (3,) or upper.shape != (3,) or not np.isfinite([lower, upper]).all():
            raise ValueError(
                f"workspace lower and upper must be [x, y, z] in m, got {self.lower} / {self.upper}"
            )
        if not (lower < upper).all():
            raise ValueError(
                f"workspace lower {lower.tolist()} must be below upper {upper.tolist()}"
            )
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @classmethod
    def from_config(cls, config: Mapping[str, Sequence[float]]) -> Workspace:
        """The box of a mapping ``{lower: [...], upper: [...]}`` (m, base frame)."""
        missing = {"lower", "upper"} - set(config)
        if missing:
            raise ValueError(f"workspace needs lower and upper; missing {sorted(missing)}")
        return cls(np.asarray(config["lower"]), np.asarray(config["upper"]))

    @classmethod
    def load(cls, path: str | Path) -> Workspace:
        """The ``workspace`` of a per-arm YAML file."""
        with open(path) as f:
            data = yaml.safe_load(f)
        if not isinstance(data, Mapping) or not isinstance(data.get("workspace"), Mapping):
            raise ValueError(f"{path}: no workspace: {{lower: [x, y, z], upper: [x, y, z]}}")
        try:
            return cls.from_config(data["workspace"])
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def contains(self, points: np.ndarray) -> np.ndarray | bool:
        """Whether (..., 3) base-frame points (m) lie in the box; NaN points do not."""
        p = np.asarray(points, np.float64)
        inside = ((p >= self.lower) & (p <= self.upper)).all(axis=-1)
        return bool(inside) if inside.ndim == 0 else inside
