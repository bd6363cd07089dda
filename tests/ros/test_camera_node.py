"""The grasp_camera node over real DDS: the three realsense2_camera topics, their encodings,
frame ids, equal stamps and camera_info; replay looping; a failing source keeps it alive."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from grasp_camera.messages import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    OPTICAL_FRAME,
    image_array,
)  # fmt: skip
from grasp_camera.node import CameraNode
from grasp_core.camera import D435_COLOR_640X480
from harness import TestGraph

pytestmark = pytest.mark.ros

CAMERA_JSON = {"fx": 50.0, "fy": 51.0, "cx": 15.5, "cy": 11.5, "width": 32, "height": 24}
TOPICS = {COLOR_TOPIC: Image, DEPTH_TOPIC: Image, CAMERA_INFO_TOPIC: CameraInfo}


def _replay_folder(root: Path, depths: tuple[int, ...]) -> Path:
    root.mkdir(exist_ok=True)
    for k, depth in enumerate(depths):
        rgb = np.full((24, 32, 3), (200, 10 * k, 30), np.uint8)
        cv2.imwrite(str(root / f"f{k}_rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / f"f{k}_depth.png"), np.full((24, 32), depth, np.uint16))
    (root / "camera.json").write_text(json.dumps(CAMERA_JSON))
    return root


class Listener:
    """Everything published on the camera topics, grouped by stamp (sec, nanosec)."""

    def __init__(self, graph: TestGraph) -> None:
        self.lock = threading.Lock()
        self.by_stamp: dict[tuple[int, int], dict[str, object]] = defaultdict(dict)
        self.order: list[tuple[int, int]] = []
        node = graph.node("camera_listener")
        for topic, msg_type in TOPICS.items():
            node.create_subscription(
                msg_type, topic, lambda m, t=topic: self._add(t, m), qos_profile_sensor_data
            )
        self.node = node

    def _add(self, topic: str, msg) -> None:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        with self.lock:
            if key not in self.by_stamp:
                self.order.append(key)
            self.by_stamp[key][topic] = msg

    def complete(self) -> list[dict[str, object]]:
        """The frames of which all three messages arrived, in publishing order."""
        with self.lock:
            return [self.by_stamp[k] for k in self.order if len(self.by_stamp[k]) == 3]


class Log:
    """What the process wrote to stderr (rcutils logs there) since the test began."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd, self.text = capfd, ""

    def has(self, part: str) -> bool:
        self.text += self.capfd.readouterr().err
        return part in self.text


def _camera(graph: TestGraph, **parameters) -> CameraNode:
    overrides = [Parameter(name, value=value) for name, value in parameters.items()]
    return graph.add(CameraNode(context=graph.context, parameter_overrides=overrides))


def test_replay_frames_go_out_on_the_three_topics_with_one_stamp_and_loop(
    ros_graph: TestGraph, tmp_path: Path
) -> None:
    listener = Listener(ros_graph)
    folder = _replay_folder(tmp_path / "replay", depths=(400, 401))
    node = _camera(ros_graph, source="replay", replay_path=str(folder), rate_hz=20.0)
    ros_graph.wait_for(lambda: len(listener.complete()) >= 4, what="four complete frames")

    for topic in TOPICS:
        (info,) = node.get_publishers_info_by_topic(topic)
        assert info.qos_profile.reliability == QoSReliabilityPolicy.BEST_EFFORT
    frames = listener.complete()
    depths = [int(image_array(f[DEPTH_TOPIC])[0, 0]) for f in frames]
    start = depths.index(400)
    assert depths[start : start + 3] == [400, 401, 400]  # name order, then from the top again
    for frame in frames:
        color, depth, info = frame[COLOR_TOPIC], frame[DEPTH_TOPIC], frame[CAMERA_INFO_TOPIC]
        assert color.encoding == "rgb8" and depth.encoding == "16UC1"
        assert {color.header.frame_id, depth.header.frame_id, info.header.frame_id} == {
            OPTICAL_FRAME
        }
        assert (color.width, color.height, info.width, info.height) == (32, 24, 32, 24)
        assert list(info.k) == [50.0, 0.0, 15.5, 0.0, 51.0, 11.5, 0.0, 0.0, 1.0]
        assert tuple(image_array(color)[0, 0]) in {(200, 0, 30), (200, 10, 30)}
    stamps = [f[COLOR_TOPIC].header.stamp for f in frames]
    seconds = [s.sec + s.nanosec * 1e-9 for s in stamps]
    assert seconds == sorted(set(seconds))  # one stamp per frame, increasing
    assert abs(seconds[-1] - time.time()) < 5.0  # wall-clock capture times


def test_sim_source_publishes_the_table_with_the_d435_intrinsics(ros_graph: TestGraph) -> None:
    listener = Listener(ros_graph)
    _camera(ros_graph, source="sim", objects=2, frame_id="sim_optical", rate_hz=5.0)
    ros_graph.wait_for(lambda: len(listener.complete()) >= 1, timeout=20, what="a sim frame")

    frame = listener.complete()[0]
    color, depth, info = frame[COLOR_TOPIC], frame[DEPTH_TOPIC], frame[CAMERA_INFO_TOPIC]
    assert color.header.frame_id == depth.header.frame_id == info.header.frame_id == "sim_optical"
    assert list(info.k) == D435_COLOR_640X480.matrix.ravel().tolist()
    table = image_array(depth)
    assert table.shape == (480, 640) and 500 < np.median(table[table > 0]) < 900  # mm


def test_a_failing_source_is_logged_and_retried_until_it_delivers(
    ros_graph: TestGraph, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    listener = Listener(ros_graph)
    folder = tmp_path / "later"
    node = _camera(ros_graph, source="replay", replay_path=str(folder), rate_hz=20.0)
    log = Log(capfd)
    ros_graph.wait_for(lambda: log.has("does not exist: set replay_path"), what="the error log")
    assert listener.complete() == []

    _replay_folder(folder, depths=(600,))  # the recording appears: the node picks it up
    ros_graph.wait_for(lambda: len(listener.complete()) >= 1, what="frames after the fix")
    assert int(image_array(listener.complete()[0][DEPTH_TOPIC])[0, 0]) == 600
    assert node.reader.is_alive()


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"source": "webcam"}, "source 'webcam' is not one of sim, realsense, replay"),
        ({"rate_hz": 0.0}, "rate_hz is 0.0: frames/s must be > 0"),
    ],
    ids=["unknown source", "zero rate"],
)
def test_bad_settings_are_reported_and_the_node_stays_up(
    ros_graph: TestGraph, capfd: pytest.CaptureFixture[str], parameters: dict, message: str
) -> None:
    log = Log(capfd)
    node = _camera(ros_graph, **parameters)
    ros_graph.wait_for(lambda: log.has(message), what="the error log")
    assert node.reader.is_alive()  # still reading, so a fixed setting would take effect
