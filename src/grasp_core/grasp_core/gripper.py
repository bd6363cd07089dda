"""The parallel-jaw gripper's geometry, shared by labelling, simulation and execution."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GripperSpec:
    """A parallel-jaw gripper, all lengths in m (002_a78fe279f064600a.txt, Fig. 3c).

    max_opening: widest gap between the fingers' inner faces. finger_width: a finger's size
    across the closing axis (the jaw length of an image grasp). finger_thickness: a finger's
    size along the closing axis. finger_depth: how far the fingers reach below the palm,
    the deepest a grasp can go (002's L3). width_tolerance: added to the object's width
    when opening, so the fingers clear it on the way down (002: 0.005 m).
    """

    max_opening: float = 0.085
    finger_width: float = 0.022
    finger_thickness: float = 0.010
    finger_depth: float = 0.045
    width_tolerance: float = 0.005

    def __post_init__(self) -> None:
        for name in ("max_opening", "finger_width", "finger_thickness", "finger_depth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"gripper {name} must be > 0 m, got {getattr(self, name)}")


# A Robotiq 2F-85-like gripper, the default of the stack.
DEFAULT_GRIPPER = GripperSpec()
