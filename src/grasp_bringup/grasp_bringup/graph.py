"""Nodes of one process under one executor spinning in a background thread.

The in-process way to run a ROS graph where ``ros2 launch`` is not available: the demo and
the tests put every node into one NodeGraph, which owns its rclpy context, so tearing the
graph down leaves no participant behind.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from grasp_core.callback_pool import queue_callbacks_once
from grasp_core.interpreter import share_cores, share_interpreter

CLOSE_WAIT_S = 5.0  # for the callbacks still running when the graph closes
SPIN_TIMEOUT_S = 0.05  # how long the spin loop waits for work before it checks for close


@runtime_checkable
class EndsCallbacks(Protocol):
    """A node whose callbacks can run long (a goal, a service call waiting for a frame)."""

    def end_callbacks(self) -> None:
        """Make the running callbacks return promptly; new ones return at once."""


class NodeGraph:
    """An rclpy context, its nodes and a MultiThreadedExecutor spinning them in a thread.

    domain_id: the DDS domain of the context (None: ROS_DOMAIN_ID or 0). Use as a context
    manager, or call close().
    """

    def __init__(self, domain_id: int | None = None, num_threads: int = 4) -> None:
        share_interpreter()  # every node of the graph shares this process's interpreter
        share_cores()
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.executor = queue_callbacks_once(
            MultiThreadedExecutor(num_threads=num_threads, context=self.context)
        )
        self._nodes: list[Node] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stopping.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)

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
        """End the callbacks still running, stop spinning, wait for the callbacks already
        handed to the executor's threads (at most CLOSE_WAIT_S), destroy every node and shut
        the context down."""
        for node in self._nodes:
            if isinstance(node, EndsCallbacks):
                node.end_callbacks()
        self._stopping.set()
        self._thread.join(timeout=CLOSE_WAIT_S)
        # rclpy 7.1's Executor.shutdown neither waits for the callbacks still running (its
        # check reads the flag it has just set) nor keeps the guard condition they signal
        # when they start: one that starts or ends after it, or after its node is
        # destroyed, raises InvalidHandle ("exception was never retrieved"). So the spin
        # loop stops first and the thread pool of the callbacks drains before either.
        drain = threading.Thread(target=self.executor._executor.shutdown, daemon=True)
        drain.start()
        drain.join(timeout=CLOSE_WAIT_S)
        self.executor.shutdown(timeout_sec=0.0)
        for node in self._nodes:
            node.destroy_node()
        self._nodes.clear()
        self.context.try_shutdown()

    def __enter__(self) -> NodeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
