"""The node set of a bringup YAML (config/table_clean.yaml): which nodes run, with which
parameters, for given launch arguments. Shared by the launch file and the in-process runner.
ROS-free, so both (and the tests) read the file the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SUBSTITUTION = re.compile(r"\$\((\w+)\)")


@dataclass(frozen=True)
class NodeSpec:
    """One node: its name, package and console script (for `ros2 launch`), its class as
    'module:Class' (for the runner) and its parameters."""

    name: str
    package: str
    executable: str
    node_class: str
    parameters: dict[str, Any]


def truthy(value: Any) -> bool:
    """Launch arguments arrive as strings ('true', 'False', '0') or as YAML booleans."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def resolve_arguments(defaults: dict[str, Any], given: dict[str, Any], share: Path) -> dict:
    """Launch arguments with defaults filled in: arm_config and models_dir point into the
    package's share folder (or its source folder) when left empty."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown arguments {sorted(unknown)}; known: {sorted(defaults)}")
    args = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    if not args["arm_config"]:
        args["arm_config"] = str(share / "config" / "arms" / f"{args['arm']}.yaml")
    if not args["models_dir"]:
        args["models_dir"] = str(share / "models")
    return args


def _substitute(value: Any, args: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    whole = SUBSTITUTION.fullmatch(value)
    if whole:  # keep the argument's own type: objects: $(objects) stays an int
        return _typed(args[whole.group(1)])
    return SUBSTITUTION.sub(lambda m: str(args[m.group(1)]), value)


def _typed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) if value else value
        except yaml.YAMLError:
            return value
    return value


def load_node_set(
    path: str | Path, given: dict[str, Any] | None = None, share: Path = PACKAGE_DIR
) -> tuple[dict[str, Any], list[NodeSpec]]:
    """(resolved arguments, the nodes to run) of a bringup YAML for launch arguments
    ``given``; ValueError for an unknown argument or node key."""
    data = yaml.safe_load(Path(path).read_text())
    args = resolve_arguments(data["arguments"], given or {}, share)
    nodes = []
    for entry in data["nodes"]:
        if "if" in entry and not truthy(args[entry["if"]]):
            continue
        if "unless" in entry and truthy(args[entry["unless"]]):
            continue
        params = {k: _substitute(v, args) for k, v in (entry.get("parameters") or {}).items()}
        fields = {k: v for k, v in entry.items() if k not in ("if", "unless", "parameters")}
        nodes.append(NodeSpec(parameters=params, **fields))
    return args, nodes
