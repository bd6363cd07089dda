"""Small simulated tables shared by the simulator tests."""

from __future__ import annotations

import numpy as np

from grasp_core.camera import D435_COLOR_640X480
from grasp_sim.objects import ObjectModel, Part
from grasp_sim.scene import TableScene, look_at

OVERHEAD = look_at(np.array([0.0, 0.0, 0.6]), np.zeros(3))


def single_object_scene(part: Part, yaw: float = 0.0) -> TableScene:
    """A table with one object resting at the origin, turned by ``yaw`` rad about z."""
    obj = ObjectModel("test_object", "box", (part,))
    scene = TableScene([obj], np.random.default_rng(0), D435_COLOR_640X480)
    # Upright from just above the table, not at a random pose.
    scene.set_pose(
        0, np.array([0.0, 0.0, 0.06]), np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    )
    scene.settle()
    return scene
