"""The inference node on real DDS: frames in on the camera topics, detections out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from grasp_camera.messages import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    OPTICAL_FRAME,
    camera_info_msg,
    depth_mm,
    image_array,
    image_msg,
)  # fmt: skip
from grasp_inference.node import DEBUG_IMAGE_TOPIC, DETECTIONS_TOPIC, InferenceNode
from grasp_interfaces.msg import ImageGraspArray
from grasp_sim.objects import Part
from tests.sim.tables import OVERHEAD, single_object_scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table_frame():
    """A rendered 640x480 frame of one 4 x 6 x 8 cm box on the table, seen from above."""
    scene = single_object_scene(Part("box", (0.02, 0.03, 0.04)))
    frame = scene.render(OVERHEAD)
    scene.close()
    return frame


class Camera:
    """Publishes frames on the camera topics as the driver would, once ``listener`` (the
    node under test) has discovered it."""

    def __init__(self, graph, frame, listener) -> None:
        self.node = graph.node("fake_driver")
        self.frame = frame
        self.pubs = {
            topic: self.node.create_publisher(kind, topic, qos_profile_sensor_data)
            for topic, kind in (
                (COLOR_TOPIC, Image), (DEPTH_TOPIC, Image), (CAMERA_INFO_TOPIC, CameraInfo),
            )
        }  # fmt: skip
        graph.wait_for(lambda: listener.count_publishers(COLOR_TOPIC) > 0, what="driver")

    def send(self, sec: int, color_encoding: str = "rgb8", depth=None) -> None:
        stamp = Time(sec=sec)
        rgb = self.frame.rgb if color_encoding == "rgb8" else self.frame.rgb[..., 0]
        depth = depth_mm(self.frame.depth) if depth is None else depth
        self.pubs[COLOR_TOPIC].publish(image_msg(rgb, color_encoding, stamp, OPTICAL_FRAME))
        self.pubs[DEPTH_TOPIC].publish(image_msg(depth, "16UC1", stamp, OPTICAL_FRAME))
        self.pubs[CAMERA_INFO_TOPIC].publish(
            camera_info_msg(self.frame.intrinsics, stamp, OPTICAL_FRAME)
        )

    def send_until(self, received: list, frames: int = 40, period_s: float = 0.2) -> None:
        """Send frames stamped 1, 2, ... s until ``received`` holds a message (or ``frames``
        were sent): the node may drop the first while it warms up."""
        for sec in range(1, frames):
            self.send(sec)
            if received:
                return
            time.sleep(period_s)


def collect(graph, topic, kind, qos=10) -> list:
    received: list = []
    graph.node(f"listener_{len(graph._nodes)}").create_subscription(
        kind, topic, received.append, qos
    )
    return received


def test_detections_come_with_the_frames_stamp_and_lie_on_the_box(ros_graph, table_frame):
    node = ros_graph.add(InferenceNode(context=ros_graph.context))
    detections = collect(ros_graph, DETECTIONS_TOPIC, ImageGraspArray)
    debug = collect(ros_graph, DEBUG_IMAGE_TOPIC, Image, qos_profile_sensor_data)
    camera = Camera(ros_graph, table_frame, node)
    camera.send_until(detections)
    ros_graph.wait_for(lambda: detections and debug, timeout=20, what="detections")
    first = detections[0]
    assert first.header.frame_id == OPTICAL_FRAME and first.header.stamp.sec >= 1
    assert first.grasps, "the shipped model found no grasp on a lone box"
    best = first.grasps[0]
    box = table_frame.instance_mask == 1
    assert box[round(best.v), round(best.u)], "the best grasp is not on the box"
    qualities = [g.quality for g in first.grasps]
    assert qualities == sorted(qualities, reverse=True)
    assert debug[0].encoding == "bgr8" and image_array(debug[0]).shape == (480, 640, 3)


def test_the_debug_image_is_drawn_only_while_something_subscribes(
    ros_graph, table_frame, monkeypatch
):
    import grasp_inference.node as inference

    drawn: list[int] = []
    draw = inference.draw_grasps
    monkeypatch.setattr(inference, "draw_grasps", lambda *a: drawn.append(1) or draw(*a))
    node = ros_graph.add(InferenceNode(context=ros_graph.context))
    detections = collect(ros_graph, DETECTIONS_TOPIC, ImageGraspArray)
    camera = Camera(ros_graph, table_frame, node)
    camera.send_until(detections)
    ros_graph.wait_for(lambda: node.processed >= 1, timeout=20, what="a processed frame")
    assert drawn == [], "a debug image was drawn with nobody subscribed"
    debug = collect(ros_graph, DEBUG_IMAGE_TOPIC, Image, qos_profile_sensor_data)
    ros_graph.wait_for(lambda: node.debug_pub.get_subscription_count() > 0, what="discovery")
    camera.send_until(debug)
    ros_graph.wait_for(lambda: debug, timeout=20, what="a debug image once subscribed")
    assert drawn


def test_a_frame_that_cannot_be_published_after_shutdown_ends_the_worker_quietly(
    ros_graph, table_frame, monkeypatch
):
    errors: list = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    node = ros_graph.add(InferenceNode(context=ros_graph.context))
    stamp = Time(sec=1)
    frame = {
        "color": image_msg(table_frame.rgb, "rgb8", stamp, OPTICAL_FRAME),
        "depth": image_msg(depth_mm(table_frame.depth), "16UC1", stamp, OPTICAL_FRAME),
        "camera_info": camera_info_msg(table_frame.intrinsics, stamp, OPTICAL_FRAME),
    }
    ros_graph.context.try_shutdown()  # as Ctrl-C does, while the worker waits for a frame
    node.slot.put(frame)  # its detections can no longer be published
    node._worker.join(timeout=20)
    assert not node._worker.is_alive() and errors == []


def test_an_unexpected_error_fails_the_frame_and_the_node_keeps_serving(ros_graph, table_frame):
    node = ros_graph.add(InferenceNode(context=ros_graph.context))
    predict = node.predictor.predict

    def broken_once(*args):
        node.predictor.predict = predict
        raise RuntimeError("a bug")

    node.predictor.predict = broken_once
    detections = collect(ros_graph, DETECTIONS_TOPIC, ImageGraspArray)
    Camera(ros_graph, table_frame, node).send_until(detections)
    ros_graph.wait_for(lambda: detections, timeout=20, what="detections after the failed frame")
    assert node.failed == 1


def test_bad_frames_are_reported_and_the_node_keeps_serving(ros_graph, table_frame):
    node = ros_graph.add(InferenceNode(context=ros_graph.context))
    detections = collect(ros_graph, DETECTIONS_TOPIC, ImageGraspArray)
    camera = Camera(ros_graph, table_frame, node)
    bad_frames = (
        {"color_encoding": "mono8"},  # a grey colour image
        {"depth": np.zeros((480, 640), np.uint16)},  # no depth at all
        {"depth": np.zeros((240, 320), np.uint16)},  # depth of another size
    )
    for sec, bad in enumerate(bad_frames, start=1):
        camera.send(sec, **bad)
        ros_graph.wait_for(lambda n=sec: node.failed == n, timeout=20, what=f"bad frame {sec}")
    assert detections == []
    camera.send(4)
    ros_graph.wait_for(lambda: detections, timeout=20, what="detections after bad frames")
    assert detections[0].header.stamp.sec == 4


def test_a_missing_model_leaves_the_node_up_and_reporting_the_error(ros_graph, tmp_path):
    node = ros_graph.add(
        InferenceNode(
            context=ros_graph.context,
            parameter_overrides=[Parameter("model_path", value=str(tmp_path / "absent.onnx"))],
        )
    )
    diagnostics = collect(ros_graph, "/diagnostics", DiagnosticArray)
    ros_graph.wait_for(lambda: diagnostics, timeout=5, what="diagnostics")
    status = diagnostics[-1].status[0]
    assert status.level == DiagnosticStatus.ERROR
    assert "absent.onnx" in status.message and "does not exist" in status.message
    assert node.predictor is None


def test_an_instance_wise_model_publishes_its_masks_with_the_grasps_ids(ros_graph, table_frame):
    from grasp_inference.node import INSTANCES_TOPIC

    node = ros_graph.add(
        InferenceNode(
            context=ros_graph.context, parameter_overrides=[Parameter("model", value="ssg")]
        )
    )
    detections = collect(ros_graph, DETECTIONS_TOPIC, ImageGraspArray)
    masks = collect(ros_graph, INSTANCES_TOPIC, Image, qos_profile_sensor_data)
    camera = Camera(ros_graph, table_frame, node)
    camera.send_until(masks)
    ros_graph.wait_for(lambda: detections and masks, timeout=20, what="instance masks")
    labels = image_array(masks[0])
    assert masks[0].encoding == "16UC1" and labels.shape == (480, 640)
    assert masks[0].header.stamp == detections[0].header.stamp
    best = detections[0].grasps[0]
    assert best.instance_id >= 1 and best.label
    # The detected object's mask lies on the box, and covers most of it.
    mine = labels == best.instance_id
    box = table_frame.instance_mask == 1
    assert (mine & box).sum() > 0.5 * mine.sum()
    assert (mine & box).sum() > 0.5 * box.sum()
