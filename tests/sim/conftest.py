"""Fixtures of the simulator tests."""

from __future__ import annotations

import pytest

from grasp_sim.scene import CameraPose
from tests.sim.tables import OVERHEAD


@pytest.fixture
def overhead() -> CameraPose:
    """The camera 0.6 m straight above the table's centre."""
    return OVERHEAD
