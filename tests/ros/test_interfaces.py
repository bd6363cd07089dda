"""The grasp_interfaces contract over real DDS: topics, the DetectGrasps service, actions."""

from __future__ import annotations

import threading
import time

import pytest
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Header

from grasp_interfaces.action import CleanTable, PickObject
from grasp_interfaces.msg import (
    Grasp,
    GraspArray,
    ImageGrasp,
    ImageGraspArray,
    PickOutcome,
    PickStage,
)
from grasp_interfaces.srv import DetectGrasps
from harness import DOMAIN_ID, TestGraph

pytestmark = pytest.mark.ros

# Every value is exactly representable in float32, so equality survives the wire.
IMAGE_GRASP = ImageGrasp(
    u=320.5,
    v=240.25,
    angle=-0.5,
    width=42.0,
    jaw_length=21.0,
    quality=0.875,
    instance_id=3,
    label="mug",
)


def _grasp(quality: float, label: str = "mug") -> Grasp:
    grasp = Grasp(width=0.0625, quality=quality, label=label, instance_id=3)
    grasp.pose.header.frame_id = "base_link"
    grasp.pose.pose.position.x, grasp.pose.pose.position.y = 0.5, -0.125
    grasp.pose.pose.position.z = 0.03125
    grasp.pose.pose.orientation.x, grasp.pose.pose.orientation.w = 1.0, 0.0
    grasp.image_grasp = IMAGE_GRASP
    return grasp


def _round_trip(graph: TestGraph, msg_type: type, message: object, topic: str) -> object:
    received: list[object] = []
    sub_node = graph.node("listener")
    sub_node.create_subscription(msg_type, topic, received.append, 10)
    pub = graph.node("talker").create_publisher(msg_type, topic, 10)
    graph.wait_for(lambda: pub.get_subscription_count() > 0, what="discovery")
    pub.publish(message)
    graph.wait_for(lambda: len(received) == 1, what=f"a message on {topic}")
    return received[0]


def test_image_grasp_array_round_trip(ros_graph: TestGraph) -> None:
    sent = ImageGraspArray(
        header=Header(frame_id="camera_color_optical_frame"), grasps=[IMAGE_GRASP, ImageGrasp()]
    )
    sent.header.stamp.sec, sent.header.stamp.nanosec = 1700000000, 250
    got = _round_trip(ros_graph, ImageGraspArray, sent, "detections")
    assert got == sent
    # Unset instance ids arrive as the documented "no instance" value, not 0.
    assert got.grasps[1].instance_id == ImageGrasp.NO_INSTANCE == -1


def test_grasp_array_round_trip(ros_graph: TestGraph) -> None:
    sent = GraspArray(header=Header(frame_id="base_link"), grasps=[_grasp(0.875), _grasp(0.5)])
    got = _round_trip(ros_graph, GraspArray, sent, "grasps")
    assert got == sent
    assert got.grasps[0].image_grasp.label == "mug"


def test_detect_grasps_service(ros_graph: TestGraph) -> None:
    candidates = [_grasp(0.875, "mug"), _grasp(0.75, "box"), _grasp(0.5, "mug")]
    requests: list[DetectGrasps.Request] = []

    def detect(request: DetectGrasps.Request, response: DetectGrasps.Response):
        requests.append(request)
        kept = [
            g
            for g in candidates
            if g.quality >= request.min_quality and request.target_label in ("", g.label)
        ][: request.max_count or None]
        response.grasps = GraspArray(header=Header(frame_id="base_link"), grasps=kept)
        response.status = DetectGrasps.Response.OK if kept else DetectGrasps.Response.NO_GRASP_FOUND
        response.message = f"{len(kept)} grasp(s)"
        return response

    ros_graph.node("transform").create_service(DetectGrasps, "detect_grasps", detect)
    client = ros_graph.node("user").create_client(DetectGrasps, "detect_grasps")
    assert client.wait_for_service(timeout_sec=10.0)

    def call(**fields) -> DetectGrasps.Response:
        return ros_graph.result(client.call_async(DetectGrasps.Request(**fields)), what="reply")

    mugs = call(target_label="mug", min_quality=0.25)
    assert mugs.status == DetectGrasps.Response.OK
    assert [g.quality for g in mugs.grasps.grasps] == [0.875, 0.5]
    assert [g.quality for g in call(max_count=1).grasps.grasps] == [0.875]
    none = call(target_label="bottle")
    assert none.status == DetectGrasps.Response.NO_GRASP_FOUND and not none.grasps.grasps
    assert requests[0].target_label == "mug" and requests[0].min_quality == 0.25


PICK_STAGES = [
    PickStage.DETECTING,
    PickStage.PLANNING,
    PickStage.APPROACHING,
    PickStage.GRASPING,
    PickStage.LIFTING,
    PickStage.PLACING,
    PickStage.RETREATING,
]


class SlowPickServer:
    """A PickObject server that walks through the stages, honouring cancel between them."""

    def __init__(self, node: Node, stage_seconds: float) -> None:
        self.stage_seconds = stage_seconds
        self.goals: list[PickObject.Goal] = []
        self.server = ActionServer(
            node,
            PickObject,
            "pick_object",
            execute_callback=self.execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def execute(self, goal_handle) -> PickObject.Result:
        self.goals.append(goal_handle.request)
        result = PickObject.Result()
        for stage in PICK_STAGES:
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                result.message = "cancelled"
                return result
            goal_handle.publish_feedback(
                PickObject.Feedback(stage=PickStage(stage=stage), attempt=1)
            )
            time.sleep(self.stage_seconds)
        goal_handle.succeed()
        result.success, result.message = True, "picked"
        result.grasp = _grasp(0.875)
        result.outcomes = [
            PickOutcome(attempt=1, success=True, stage=PickStage(stage=PickStage.DONE))
        ]
        return result


def _pick_client(graph: TestGraph) -> ActionClient:
    client = ActionClient(graph.node("pick_user"), PickObject, "pick_object")
    assert client.wait_for_server(timeout_sec=10.0)
    return client


def test_pick_object_feedback_and_result(ros_graph: TestGraph) -> None:
    server = SlowPickServer(ros_graph.node("executor"), stage_seconds=0.05)
    client = _pick_client(ros_graph)
    feedback: list[int] = []
    goal = PickObject.Goal(target_label="mug", place_location="bin")
    handle = ros_graph.result(
        client.send_goal_async(
            goal, feedback_callback=lambda f: feedback.append(f.feedback.stage.stage)
        ),
        what="goal acceptance",
    )
    assert handle.accepted
    response = ros_graph.result(handle.get_result_async(), what="result")
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.success and response.result.grasp == _grasp(0.875)
    assert response.result.outcomes[0].stage.stage == PickStage.DONE
    # Feedback published before the client has processed the goal acceptance is dropped
    # by rclpy (the goal id is still unknown to it), so the first stage may be missed;
    # whatever arrives must be in stage order and end with the last stage.
    ros_graph.wait_for(lambda: feedback[-1:] == PICK_STAGES[-1:], what="the last feedback")
    assert len(feedback) >= len(PICK_STAGES) - 2
    assert feedback == PICK_STAGES[len(PICK_STAGES) - len(feedback) :]
    assert server.goals[0].target_label == "mug" and server.goals[0].place_location == "bin"


def test_pick_object_cancel_leaves_server_ready(ros_graph: TestGraph) -> None:
    server = SlowPickServer(ros_graph.node("executor"), stage_seconds=0.2)
    client = _pick_client(ros_graph)
    first_feedback = threading.Event()
    handle = ros_graph.result(
        client.send_goal_async(PickObject.Goal(), feedback_callback=lambda _: first_feedback.set()),
        what="goal acceptance",
    )
    assert first_feedback.wait(10.0)
    cancel = ros_graph.result(handle.cancel_goal_async(), what="cancel reply")
    assert len(cancel.goals_canceling) == 1
    response = ros_graph.result(handle.get_result_async(), what="cancelled result")
    assert response.status == GoalStatus.STATUS_CANCELED
    assert not response.result.success

    server.stage_seconds = 0.0
    again = ros_graph.result(client.send_goal_async(PickObject.Goal()), what="second goal")
    assert ros_graph.result(again.get_result_async(), what="second result").result.success
    assert len(server.goals) == 2


def test_clean_table_goal_defaults_cross_the_wire(ros_graph: TestGraph) -> None:
    goals: list[CleanTable.Goal] = []

    def execute(goal_handle) -> CleanTable.Result:
        goals.append(goal_handle.request)
        goal_handle.publish_feedback(CleanTable.Feedback(picked=1, attempts=1))
        goal_handle.succeed()
        return CleanTable.Result(
            picked=1,
            attempts=2,
            failures=1,
            message="table clear",
            outcomes=[PickOutcome(attempt=1), PickOutcome(attempt=2, success=True)],
        )

    ActionServer(ros_graph.node("executor"), CleanTable, "clean_table", execute)
    client = ActionClient(ros_graph.node("user"), CleanTable, "clean_table")
    assert client.wait_for_server(timeout_sec=10.0)
    handle = ros_graph.result(client.send_goal_async(CleanTable.Goal(labels=["mug"])))
    result = ros_graph.result(handle.get_result_async()).result
    assert goals[0].max_consecutive_failures == 5 and list(goals[0].labels) == ["mug"]
    assert (result.picked, result.attempts, result.failures) == (1, 2, 1)
    assert [o.success for o in result.outcomes] == [False, True]


def test_private_domain_is_isolated(ros_graph: TestGraph) -> None:
    """A participant on another domain id hears nothing of the test's traffic."""
    with TestGraph(domain_id=DOMAIN_ID + 100) as outsider:
        heard: list[object] = []
        outsider.node("outsider").create_subscription(PoseStamped, "leak", heard.append, 10)
        insider: list[object] = []
        ros_graph.node("insider").create_subscription(PoseStamped, "leak", insider.append, 10)
        pub = ros_graph.node("talker").create_publisher(PoseStamped, "leak", 10)
        ros_graph.wait_for(lambda: pub.get_subscription_count() == 1, what="discovery")
        for _ in range(5):
            pub.publish(PoseStamped())
        ros_graph.wait_for(lambda: len(insider) == 5, what="own-domain delivery")
        time.sleep(0.5)
        assert heard == [] and pub.get_subscription_count() == 1
