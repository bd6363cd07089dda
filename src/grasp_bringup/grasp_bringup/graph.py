"""Nodes of one process under one executor spinning in a background thread.

The in-process way to run a ROS graph where ``ros2 launch`` is not available: the demo and
the tests put every node into one NodeGraph, which owns its rclpy context, so tearing the
graph down leaves no participant behind.
"""

from __future__ import annotations

import threading
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node


class NodeGraph:
    """An rclpy context, its nodes and a MultiThreadedExecutor spinning them in a thread.

    domain_id: the DDS domain of the context (None: ROS_DOMAIN_ID or 0). Use as a context
    manager, or call close().
    """

    def __init__(self, domain_id: int | None = None, num_threads: int = 4) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.executor = MultiThreadedExecutor(num_threads=num_threads, context=self.context)
        self._nodes: list[Node] = []
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def node(self, name: str, **kwargs: Any) -> Node:
        """Create a plain node in this graph's context and spin it."""
        return self.add(Node(name, context=self.context, **kwargs))

    def add(self, node: Node) -> Node:
        """Spin a node created with ``context=graph.context``."""
        self.executor.add_node(node)
        self._nodes.append(node)
        return node

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def close(self) -> None:
        """Stop spinning, destroy every node and shut the context down."""
        self.executor.shutdown(timeout_sec=5.0)
        for node in self._nodes:
            node.destroy_node()
        self._nodes.clear()
        self._thread.join(timeout=5.0)
        self.context.try_shutdown()

    def __enter__(self) -> NodeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
