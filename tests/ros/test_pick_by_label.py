"""Picking by class through the whole graph with the shipped SSG model: PickObject with a
target label picks that class, CleanTable with a label list removes only those classes.

The table (seed 2, four novel objects; a bowl, a box and a capsule stay on the table after
the drop) is one on which the shipped SSG names the box and the capsule correctly, so the
test checks the label plumbing (detections -> DetectGrasps filter -> executor), not the
model's accuracy, which its model card reports."""

from __future__ import annotations

import pytest
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient

from grasp_bringup import runner
from grasp_interfaces.action import CleanTable, PickObject
from harness import DOMAIN_ID, sim_objects, wait_result


@pytest.fixture
def graph():
    graph, _ = runner.start(
        {"arm": "ur5", "model": "ssg", "objects": 4, "seed": 2, "sim": True},
        domain_id=DOMAIN_ID,
    )
    yield graph
    graph.close()


def families_on_table(node) -> list[str]:
    return sorted(o["family"] for o in sim_objects(node) if o["on_table"])


def test_objects_are_picked_by_class(graph) -> None:
    node = graph.node("test_client")
    assert families_on_table(node) == ["bowl", "box", "capsule"]
    pick = ActionClient(node, PickObject, "/pick_object")
    assert pick.wait_for_server(timeout_sec=30)
    handle = wait_result(pick.send_goal_async(PickObject.Goal(target_label="capsule")), 30)
    response = wait_result(handle.get_result_async(), 300)
    assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.message
    assert response.result.grasp.label == "capsule"
    assert families_on_table(node) == ["bowl", "box"]

    clean = ActionClient(node, CleanTable, "/clean_table")
    handle = wait_result(clean.send_goal_async(CleanTable.Goal(labels=["box"])), 30)
    result = wait_result(handle.get_result_async(), 300).result
    assert result.picked >= 1 and all(o.label == "box" for o in result.outcomes if o.success)
    assert families_on_table(node) == ["bowl"]
