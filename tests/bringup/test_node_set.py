"""The bringup YAML, the launch file and the in-process runner describe one node set."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from grasp_bringup.node_set import load_node_set
from grasp_bringup.runner import TABLE_CLEAN, argument_parser, node_class

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "table_clean.launch.py"


def console_scripts(package: str) -> dict[str, str]:
    """name -> 'module:function' of a package's console scripts (its setup.py, which colcon
    builds from)."""
    text = (ROOT / "src" / package / "setup.py").read_text()
    found = re.findall(r'f"(\w+) = \{PACKAGE\}\.([\w.]+):(\w+)"', text)
    return {name: f"{package}.{module}:{function}" for name, module, function in found}


def test_simulation_and_real_robot_start_the_expected_nodes() -> None:
    _, sim = load_node_set(TABLE_CLEAN, {"sim": "true"})
    _, real = load_node_set(TABLE_CLEAN, {"sim": "false"})
    assert [n.name for n in sim] == [
        "grasp_sim", "grasp_inference", "grasp_transform", "grasp_executor",
    ]  # fmt: skip
    assert [n.name for n in real] == [
        "grasp_camera", "grasp_inference", "grasp_transform", "grasp_executor",
    ]  # fmt: skip


def test_arguments_reach_the_parameters_with_their_types() -> None:
    args, nodes = load_node_set(TABLE_CLEAN, {"arm": "kinova", "objects": "15", "model": "ssg"})
    params = {n.name: n.parameters for n in nodes}
    assert params["grasp_sim"]["objects"] == 15
    assert params["grasp_inference"]["model"] == "ssg"
    assert params["grasp_executor"]["arm_config"].endswith("config/arms/kinova.yaml")
    assert Path(params["grasp_executor"]["arm_config"]).is_file()
    assert (Path(args["models_dir"]) / "grconvnet.onnx").is_file()
    with pytest.raises(ValueError, match="unknown arguments"):
        load_node_set(TABLE_CLEAN, {"robot": "ur5"})


@pytest.mark.parametrize("sim", ["true", "false"])
def test_each_node_runs_the_same_code_under_launch_and_under_the_runner(sim: str) -> None:
    """ros2 launch starts package/executable; the runner instantiates node_class. Both must
    be the module's node: the executable's main() lives in the class's module, and the class
    names itself as the YAML does."""
    _, nodes = load_node_set(TABLE_CLEAN, {"sim": sim})
    for spec in nodes:
        scripts = console_scripts(spec.package)
        assert spec.executable in scripts, f"{spec.package} installs no {spec.executable}"
        module = spec.node_class.split(":")[0]
        assert scripts[spec.executable] == f"{module}:main"
        # launch_ros and `ros2 run` look in lib/<package> of the install (setup.cfg).
        installed = ROOT / "ros2_ws/install" / spec.package / "lib" / spec.package
        assert (installed / spec.executable).is_file(), f"colcon did not install {installed}"
        cls = node_class(spec)
        assert hasattr(importlib.import_module(module), "main")
        source = Path(importlib.import_module(module).__file__).read_text()
        assert f'super().__init__("{spec.name}"' in source, f"{cls.__name__} is not {spec.name}"


def test_the_launch_file_reads_the_runners_yaml_and_passes_every_field() -> None:
    tree = ast.parse(LAUNCH.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert TABLE_CLEAN.name in strings and "config" in strings
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    called = {getattr(c.func, "id", getattr(c.func, "attr", "")) for c in calls}
    assert "load_node_set" in called
    node = next(c for c in calls if getattr(c.func, "id", "") == "Node" and c.keywords
                and any(k.arg == "package" and isinstance(k.value, ast.Attribute)
                        for k in c.keywords))  # fmt: skip
    passed = {k.arg: ast.unparse(k.value) for k in node.keywords}
    assert passed["package"] == "spec.package"
    assert passed["executable"] == "spec.executable"
    assert passed["name"] == "spec.name"
    assert passed["parameters"] == "[spec.parameters]"


def test_the_runner_offers_every_launch_argument() -> None:
    defaults, _ = load_node_set(TABLE_CLEAN)
    options = argument_parser().parse_args([])
    assert set(vars(options)) == set(defaults)
