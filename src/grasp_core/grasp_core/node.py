"""The life of a node process, shared by every node's main(): set how its threads share the
interpreter and the cores (grasp_core.interpreter), start ROS, spin the node until Ctrl-C
or the launch system stops it, and shut down. The one module of grasp_core that imports
ROS, as grasp_sim.node is grasp_sim's; only the nodes import it, so the rest of grasp_core
runs without ROS.
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from grasp_core.interpreter import share_cores, share_interpreter


def run_node(
    make_node: Callable[[], Node], make_executor: Callable[[], Executor] = SingleThreadedExecutor
) -> None:
    """Run one node in this process until it is stopped.

    make_node: builds the node once ROS is initialised (its class). make_executor: builds the
    executor that spins it, for nodes whose callbacks must run side by side.
    """
    share_interpreter()
    share_cores()
    rclpy.init()
    node = make_node()
    executor = make_executor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C or the launch system stopping the node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
