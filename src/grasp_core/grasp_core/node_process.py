"""The life of a node process, shared by every node's main(): set the interpreter's switch
interval, start ROS, spin the node until Ctrl-C or the launch system stops it, and shut
down. rclpy is imported only when a node process calls run_node, so grasp_core stays
importable without ROS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grasp_core.interpreter import share_interpreter


def run_node(make_node: Callable[[], Any], make_executor: Callable[[], Any] | None = None) -> None:
    """Run one node in this process until it is stopped.

    make_node: builds the node once ROS is initialised (its class). make_executor: builds the
    executor that spins it (default: rclpy's single-threaded one), for nodes whose callbacks
    must run side by side.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    share_interpreter()
    rclpy.init()
    node = make_node()
    executor = make_executor() if make_executor is not None else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C or the launch system stopping the node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
