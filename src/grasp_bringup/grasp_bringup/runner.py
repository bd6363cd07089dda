"""Run a bringup's node set in one process under one executor, without `ros2 launch`.

    python -m grasp_bringup.runner --arm ur5 --model grconvnet --objects 5

starts what `ros2 launch grasp_bringup table_clean.launch.py arm:=ur5 ...` starts (same
YAML, grasp_bringup.node_set), except RViz, and spins until Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

from rclpy.parameter import Parameter

from grasp_bringup.graph import NodeGraph
from grasp_bringup.node_set import PACKAGE_DIR, NodeSpec, load_node_set

TABLE_CLEAN = PACKAGE_DIR / "config" / "table_clean.yaml"


def node_class(spec: NodeSpec) -> type:
    module, _, name = spec.node_class.partition(":")
    return getattr(importlib.import_module(module), name)


def start(
    given: dict[str, Any] | None = None,
    config: Path = TABLE_CLEAN,
    domain_id: int | None = None,
    num_threads: int = 8,
) -> tuple[NodeGraph, dict[str, Any]]:
    """A NodeGraph running every node of ``config`` for launch arguments ``given``, and the
    resolved arguments. Close the graph to stop them."""
    args, specs = load_node_set(config, given)
    graph = NodeGraph(domain_id=domain_id, num_threads=num_threads)
    try:
        for spec in specs:
            overrides = [Parameter(k, value=v) for k, v in spec.parameters.items()]
            graph.add(node_class(spec)(context=graph.context, parameter_overrides=overrides))
    except BaseException:
        graph.close()
        raise
    return graph, args


def argument_parser(config: Path = TABLE_CLEAN) -> argparse.ArgumentParser:
    """--<argument> options for every launch argument of ``config``, defaults from it."""
    defaults, _ = load_node_set(config)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                            help=f"default: {value}")  # fmt: skip
    return parser


def main() -> None:
    given = vars(argument_parser().parse_args())
    graph, args = start(given)
    print(f"running {', '.join(n.get_name() for n in graph.nodes)} for {args}; Ctrl-C stops")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        graph.close()


if __name__ == "__main__":
    main()
