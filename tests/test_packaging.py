"""Packaging rules that keep the stack portable: ROS-free cores, and the CMake path fix."""

from __future__ import annotations

import ast
import importlib.util
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ROS_MODULES = {
    "rclpy", "rosidl_runtime_py", "std_msgs", "sensor_msgs", "geometry_msgs",
    "visualization_msgs", "trajectory_msgs", "diagnostic_msgs", "action_msgs",
    "grasp_interfaces", "tf2_ros", "cv_bridge", "moveit",
}  # fmt: skip


def imported_top_modules(package_dir: Path) -> dict[str, set[str]]:
    """Top-level module names imported anywhere in a package, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["grasp_core", "grasp_learning", "grasp_sim"])
def test_ros_free_packages_import_no_ros(package: str) -> None:
    """Only a package's ROS adapter, node.py, may import ROS (grasp_sim has one)."""
    package_dir = ROOT / "src" / package / package
    assert any(package_dir.glob("*.py")), f"{package_dir} holds no Python modules"
    offenders = {
        path: sorted(names & ROS_MODULES)
        for path, names in imported_top_modules(package_dir).items()
        if names & ROS_MODULES and not path.endswith("/node.py")
    }
    assert offenders == {}, f"{package} must stay ROS-free"


def test_grasp_core_runtime_never_imports_torch() -> None:
    offenders = [
        path
        for path, names in imported_top_modules(ROOT / "src/grasp_core/grasp_core").items()
        if "torch" in names
    ]
    assert offenders == [], "grasp_core is on the nodes' run-time path: no torch there"


def _fix_ros_cmake():
    spec = importlib.util.spec_from_file_location("fix_ros_cmake", ROOT / "tools/fix_ros_cmake.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cmake_fix_rewrites_build_image_python_paths() -> None:
    fix = _fix_ros_cmake()
    paths = {"python_include": "/py/include", "numpy_include": "/venv/numpy/include"}
    text = (
        'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"'
    )
    fixed = fix.rewrite(text, paths)
    assert fixed == 'INTERFACE_INCLUDE_DIRECTORIES "/py/include;/venv/numpy/include"'
    assert fix.rewrite(fixed, paths) == fixed


def test_cmake_fix_leaves_the_installed_wheels_consistent() -> None:
    """After `make env`, no exported target of the wheels names the build image's Python."""
    venv_share = Path(sysconfig.get_paths()["data"]) / "share"
    stale = [
        str(p)
        for p in venv_share.glob("*/cmake/*Export*.cmake")
        if "/opt/python/cp3" in p.read_text()
    ]
    assert list(venv_share.glob("std_msgs/cmake/*Export*.cmake")), "ROS wheels not found"
    assert stale == []
