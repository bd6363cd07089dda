"""The whole graph on real DDS, as `make demo` runs it: simulated UR5, camera and table,
grasp inference with the shipped GR-ConvNet, transform and executor, started by the
in-process runner from the bringup YAML."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState

from grasp_bringup import runner
from grasp_interfaces.action import CleanTable, PickObject
from grasp_interfaces.msg import PickStage
from harness import DOMAIN_ID, sim_objects, wait_result

TABLE = {"arm": "ur5", "objects": 2, "seed": 3, "sim": True}


@pytest.fixture
def graph():
    graph, _ = runner.start(TABLE, domain_id=DOMAIN_ID)
    yield graph
    graph.close()


def pick_until_approaching(node) -> tuple[ActionClient, object]:
    """Send a PickObject goal; return once its arm is approaching the grasp."""
    client = ActionClient(node, PickObject, "/pick_object")
    assert client.wait_for_server(timeout_sec=30)
    moving = threading.Event()

    def feedback(msg) -> None:
        if msg.feedback.stage.stage == PickStage.APPROACHING:
            moving.set()

    handle = wait_result(client.send_goal_async(PickObject.Goal(), feedback), 30)
    assert moving.wait(120), "the pick never started approaching"
    return client, handle


def objects_on_table(node) -> int:
    return sum(o["on_table"] for o in sim_objects(node))


def test_the_graph_clears_a_small_simulated_table(graph) -> None:
    node = graph.node("test_client")
    client = ActionClient(node, CleanTable, "/clean_table")
    assert client.wait_for_server(timeout_sec=30)
    before = objects_on_table(node)
    assert before >= 1
    handle = wait_result(client.send_goal_async(CleanTable.Goal()), 30)
    response = wait_result(handle.get_result_async(), 600)
    result = response.result
    assert response.status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert "nothing graspable" in result.message
    assert objects_on_table(node) == 0
    assert result.picked == before and len(result.outcomes) == result.attempts
    assert [o.attempt for o in result.outcomes] == list(range(1, result.attempts + 1))
    picked = [o for o in result.outcomes if o.success]
    assert all(o.grasp.pose.header.frame_id == "base_link" for o in picked)


def test_a_cancel_mid_pick_stops_the_arm_and_the_server_takes_the_next_goal(graph) -> None:
    node = graph.node("test_client")
    joints: list[JointState] = []
    node.create_subscription(JointState, "/joint_states", joints.append, 10)
    client, handle = pick_until_approaching(node)
    time.sleep(0.5)  # mid-motion
    wait_result(handle.cancel_goal_async(), 10)
    response = wait_result(handle.get_result_async(), 30)
    assert response.status == GoalStatus.STATUS_CANCELED
    assert "cancelled" in response.result.message
    time.sleep(0.5)  # let the hold take effect
    start = len(joints)
    time.sleep(1.5)
    window = np.array([m.position[:6] for m in joints[start:]])
    assert len(window) >= 2, "no joint states after the cancel"
    assert np.abs(window - window[0]).max() < 2e-3, "the arm kept moving after the cancel"
    # The server is ready for the next goal, which runs.
    again = wait_result(client.send_goal_async(PickObject.Goal()), 30)
    assert again.accepted
    wait_result(again.cancel_goal_async(), 10)
    assert wait_result(again.get_result_async(), 60).status == GoalStatus.STATUS_CANCELED


def test_closing_the_graph_mid_pick_ends_the_goal_quietly(capfd) -> None:
    # The runner on Ctrl-C, or the end of a test, with a pick under way.
    graph, _ = runner.start(TABLE, domain_id=DOMAIN_ID)
    node = graph.node("test_client")
    client, _ = pick_until_approaching(node)
    t0 = time.monotonic()
    graph.close()
    assert time.monotonic() - t0 < 10.0
    del graph, node, client
    gc.collect()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "never retrieved" not in err, err
