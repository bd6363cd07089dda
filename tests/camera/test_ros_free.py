"""The camera's sources stay usable without ROS: only node.py and messages.py import it."""

from __future__ import annotations

from pathlib import Path

from tests.test_packaging import ROOT, ROS_MODULES, imported_top_modules


def test_only_the_adapters_of_grasp_camera_import_ros() -> None:
    package = ROOT / "src/grasp_camera/grasp_camera"
    users = {
        Path(path).name
        for path, names in imported_top_modules(package).items()
        if names & (ROS_MODULES | {"builtin_interfaces"})
    }
    assert users == {"node.py", "messages.py"}
