"""The parallel-jaw gripper's geometry, shared by labelling, simulation and execution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GripperSpec:
    """A parallel-jaw gripper, all lengths in m (002_a78fe279f064600a.txt, Fig. 3c).

    max_opening: widest gap between the fingers' inner faces. finger_width: a finger's size
    across the closing axis (the jaw length of an image grasp). finger_thickness: a finger's
    size along the closing axis. finger_depth: how far the fingers reach below the palm,
    the deepest a grasp can go (002's L3). width_tolerance: added to the object's width
    when opening, so the fingers clear it on the way down (002: 0.005 m); the generated
    labels, and so a trained model's widths, include it. opening_margin: added again to a
    predicted width when the gripper opens for a grasp (approach_opening), since a model's
    width is a regression that can be short by a centimetre.
    """

    max_opening: float = 0.085
    finger_width: float = 0.022
    finger_thickness: float = 0.010
    finger_depth: float = 0.045
    width_tolerance: float = 0.005
    opening_margin: float = 0.015

    def __post_init__(self) -> None:
        for name in ("max_opening", "finger_width", "finger_thickness", "finger_depth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"gripper {name} must be > 0 m, got {getattr(self, name)}")

    def approach_opening(self, width: float | np.ndarray) -> float | np.ndarray:
        """The opening (m) the fingers go down with for a grasp ``width`` m wide (a float or
        an array of them): the width plus opening_margin, at most max_opening."""
        return np.minimum(width + self.opening_margin, self.max_opening)


# A Robotiq 2F-85-like gripper, the default of the stack.
DEFAULT_GRIPPER = GripperSpec()
