"""Small simulated tables shared by the simulator tests."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_core.camera import D435_COLOR_640X480
from grasp_sim.objects import ObjectModel, Part
from grasp_sim.scene import CameraPose, TableScene, look_at

OVERHEAD = look_at(np.array([0.0, 0.0, 0.6]), np.zeros(3))


def single_object_scene(part: Part, yaw: float = 0.0, extra=("", "")) -> TableScene:
    """A table with one object resting at the origin, turned by ``yaw`` rad about z."""
    obj = ObjectModel("test_object", "box", (part,))
    scene = TableScene([obj], np.random.default_rng(0), D435_COLOR_640X480, *extra)
    # Drop it upright from just above the table, not at a random pose.
    joint = scene.model.body_jntadr[scene._body_of_object[0]]
    adr = scene.model.jnt_qposadr[joint]
    scene.data.qpos[adr : adr + 7] = (0, 0, 0.06, np.cos(yaw / 2), 0, 0, np.sin(yaw / 2))
    scene.settle()
    return scene


@pytest.fixture
def overhead() -> CameraPose:
    return OVERHEAD
