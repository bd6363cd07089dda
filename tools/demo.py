"""`make demo`: the most useful thing the stack runs end to end today.

Until the camera, inference, transform and executor nodes exist, this shows the contract
they will speak, over real DDS in one process: a detections topic carrying image-space
grasps, the DetectGrasps service and a PickObject action with feedback. The servers here
answer from a fixed scene description; nothing is detected and no arm moves.
"""

from __future__ import annotations

import threading
import time

from geometry_msgs.msg import Pose
from rclpy.action import ActionClient, ActionServer

from grasp_bringup.graph import NodeGraph
from grasp_interfaces.action import PickObject
from grasp_interfaces.msg import Grasp, GraspArray, ImageGrasp, ImageGraspArray, PickStage
from grasp_interfaces.srv import DetectGrasps

STAGE_NAMES = {
    value: name
    for name, value in vars(PickStage).items()
    if name.isupper() and isinstance(value, int)
}

SCENE = [
    ImageGrasp(u=300.0, v=250.0, angle=0.3, width=60.0, jaw_length=30.0, quality=0.9, label="mug"),
    ImageGrasp(u=420.0, v=200.0, angle=-1.2, width=40.0, jaw_length=20.0, quality=0.7, label="box"),
]


def _as_grasp(image_grasp: ImageGrasp) -> Grasp:
    grasp = Grasp(width=0.05, quality=image_grasp.quality, label=image_grasp.label)
    grasp.pose.header.frame_id = "base_link"
    grasp.pose.pose = Pose()
    grasp.image_grasp = image_grasp
    return grasp


def _wait(future, timeout: float = 10.0):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError("no answer from the graph within 10 s")
    return future.result()


def main() -> None:
    print(__doc__)
    with NodeGraph() as graph:
        received = threading.Event()
        listener = graph.node("demo_listener")
        listener.create_subscription(
            ImageGraspArray,
            "detections",
            lambda msg: (print(f"  detections: {len(msg.grasps)} grasp(s)"), received.set()),
            10,
        )

        server_node = graph.node("demo_servers")

        def detect(request, response):
            grasps = [_as_grasp(g) for g in SCENE if request.target_label in ("", g.label)]
            response.grasps = GraspArray(grasps=grasps)
            response.status = response.OK if grasps else response.NO_GRASP_FOUND
            return response

        def pick(goal_handle):
            for stage in range(PickStage.DETECTING, PickStage.DONE):
                time.sleep(0.1)  # lets the client learn the goal id before feedback arrives
                goal_handle.publish_feedback(
                    PickObject.Feedback(stage=PickStage(stage=stage), attempt=1)
                )
            goal_handle.succeed()
            return PickObject.Result(
                success=True, message="stand-in pick", grasp=_as_grasp(SCENE[0])
            )

        server_node.create_service(DetectGrasps, "detect_grasps", detect)
        ActionServer(server_node, PickObject, "pick_object", pick)

        publisher = graph.node("demo_camera").create_publisher(ImageGraspArray, "detections", 10)
        while publisher.get_subscription_count() == 0:
            received.wait(0.05)
        publisher.publish(ImageGraspArray(grasps=SCENE))
        received.wait(10.0)

        user = graph.node("demo_user")
        client = user.create_client(DetectGrasps, "detect_grasps")
        client.wait_for_service(timeout_sec=10.0)
        reply = _wait(client.call_async(DetectGrasps.Request(target_label="mug")))
        print(
            f"  DetectGrasps(target_label='mug'): status {reply.status}, "
            f"{len(reply.grasps.grasps)} grasp(s), best {reply.grasps.grasps[0].quality:.2f}"
        )

        actions = ActionClient(user, PickObject, "pick_object")
        actions.wait_for_server(timeout_sec=10.0)
        handle = _wait(
            actions.send_goal_async(
                PickObject.Goal(target_label="mug"),
                feedback_callback=lambda f: print(
                    f"  PickObject feedback: {STAGE_NAMES[f.feedback.stage.stage]}"
                ),
            )
        )
        result = _wait(handle.get_result_async()).result
        print(f"  PickObject result: success={result.success} ({result.message})")


if __name__ == "__main__":
    main()
