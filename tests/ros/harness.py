"""Real ROS 2 for tests: nodes in-process under one executor on a private DDS domain.

Each test that takes the ``ros_graph`` fixture gets its own TestGraph (a NodeGraph with its
own rclpy context) on a domain id private to this pytest process, with discovery limited to
localhost. Nodes, executor and context are torn down after the test, so no participant
outlives it and tests cannot hear each other.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from rclpy.task import Future

from grasp_bringup.graph import NodeGraph

# Fast DDS derives its ports from the domain id; ids 1..100 are valid everywhere and the
# pid spreads concurrent test runs on one machine over them.
DOMAIN_ID = 1 + os.getpid() % 100

# Read by rmw when a participant is created; set before any context exists.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated in Jazzy; warns if set


class TestGraph(NodeGraph):
    """A NodeGraph with the waiting helpers tests need."""

    __test__ = False  # not a test class, despite the name

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
            time.sleep(0.01)

    def result(self, future: Future, timeout: float = 10.0, what: str = "future") -> Any:
        """Block until an rclpy future (spun by the background executor) is done."""
        return wait_result(future, timeout, what)


def wait_result(future: Future, timeout: float = 10.0, what: str = "future") -> Any:
    """The result of an rclpy future that an executor spins in another thread; the test
    fails after ``timeout`` s."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
    return future.result()


def sim_objects(node: Any) -> list[dict]:
    """The simulated objects' ground truth (grasp_sim's /sim/ground_truth), through ``node``."""
    from std_srvs.srv import Trigger

    client = node.create_client(Trigger, "/sim/ground_truth")
    assert client.wait_for_service(timeout_sec=30), "no /sim/ground_truth"
    answer = wait_result(client.call_async(Trigger.Request()), 30, "ground truth")
    return json.loads(answer.message)["objects"]
