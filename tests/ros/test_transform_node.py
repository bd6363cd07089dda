"""The transform node on real DDS: depth, camera_info and detections in on the real topics,
base-frame grasps, markers and DetectGrasps answers out.

The camera looks straight down from (0.5, 0, 0.8) m (quaternion (1, 0, 0, 0): optical x =
base x, optical y = base -y, optical z = base -z), so expected poses are written by hand:
a pixel (u, v) at depth z is at base ((u - cx) z / fx + 0.5, -(v - cy) z / fy, 0.8 - z).
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from grasp_camera.messages import (
    CAMERA_INFO_TOPIC,
    DEPTH_TOPIC,
    OPTICAL_FRAME,
    camera_info_msg,
    image_msg,
)  # fmt: skip
from grasp_core.camera import CameraIntrinsics
from grasp_interfaces.msg import GraspArray, ImageGrasp, ImageGraspArray
from grasp_interfaces.srv import DetectGrasps
from grasp_transform.convert import transform_matrix
from grasp_transform.node import (
    DETECTIONS_TOPIC,
    GRASPS_TOPIC,
    MARKERS_TOPIC,
    SERVICE,
    TransformNode,
)  # fmt: skip
from harness import DOMAIN_ID, TestGraph

pytestmark = pytest.mark.ros

K = CameraIntrinsics(fx=150.0, fy=160.0, cx=80.0, cy=60.0, width=160, height=120)
TABLE_DEPTH_MM = 750  # the table top is at base z = 0.05 m
ARM_YAML = """\
arm: test
base_link: base_link
gripper: {max_opening: 0.085}
workspace: {lower: [0.2, -0.4, -0.05], upper: [0.8, 0.4, 0.5]}
camera: {xyz: [0.5, 0.0, 0.8], quat_xyzw: [1.0, 0.0, 0.0, 0.0]}
"""


def _grasp(u, v, angle, width, quality, label="mug") -> ImageGrasp:
    return ImageGrasp(u=u, v=v, angle=angle, width=width, jaw_length=10.0, quality=quality,
                      instance_id=1, label=label)  # fmt: skip


GOOD = _grasp(100.0, 40.0, 0.5, 10.0, 0.5)  # 10 px * 0.75 / ~155 = ~5 cm
BEST = _grasp(70.0, 70.0, -0.25, 8.0, 0.875, label="box")
TOO_WIDE = _grasp(80.0, 60.0, 0.0, 40.0, 0.95)  # 40 * 0.75 / 150 = 0.2 m
OUTSIDE = _grasp(2.0, 60.0, 0.0, 8.0, 0.9)  # base x = (2 - 80) * 0.75 / 150 + 0.5 = 0.11
DETECTIONS = [TOO_WIDE, OUTSIDE, BEST, GOOD]


def expected_base(g: ImageGrasp, depth: float, grasp_depth: float) -> tuple:
    """(position, closing axis, approach, width) in the base frame, by hand (module doc)."""
    x, y = (g.u - K.cx) * depth / K.fx, (g.v - K.cy) * depth / K.fy
    position = np.array([0.5 + x, -y, 0.8 - (depth + grasp_depth)])
    # Optical closing axis (cos, -sin, 0) -> base (cos, sin, 0); approach optical z -> -z.
    axis = np.array([math.cos(g.angle), math.sin(g.angle), 0.0])
    width = math.hypot(g.width * math.cos(g.angle) / K.fx, g.width * math.sin(g.angle) / K.fy)
    return position, axis, np.array([0.0, 0.0, -1.0]), width * depth


@pytest.fixture
def arm_config(tmp_path: Path) -> str:
    path = tmp_path / "arm.yaml"
    path.write_text(ARM_YAML)
    return str(path)


class Driver:
    """Publishes depth + camera_info (sensor QoS) and detections as camera and inference do."""

    def __init__(self, graph) -> None:
        self.node = graph.node("driver")
        self.depth = self.node.create_publisher(Image, DEPTH_TOPIC, qos_profile_sensor_data)
        self.info = self.node.create_publisher(
            CameraInfo, CAMERA_INFO_TOPIC, qos_profile_sensor_data
        )
        self.detections = self.node.create_publisher(ImageGraspArray, DETECTIONS_TOPIC, 10)
        graph.wait_for(
            lambda: (
                min(p.get_subscription_count() for p in (self.depth, self.info, self.detections))
                > 0
            ),
            what="the transform node's subscriptions",
        )

    def send(self, depth=None, encoding="16UC1", info=True, intrinsics=K, grasps=None) -> Time:
        """One frame stamped now; depth defaults to the flat table in mm."""
        now = time.time_ns()
        stamp = Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)
        if depth is None:
            depth = np.full((K.height, K.width), TABLE_DEPTH_MM, np.uint16)
        if info:
            self.info.publish(camera_info_msg(intrinsics, stamp, OPTICAL_FRAME))
        self.depth.publish(image_msg(depth, encoding, stamp, OPTICAL_FRAME))
        time.sleep(0.05)  # depth first, as the camera is earlier than the inference
        msg = ImageGraspArray(grasps=DETECTIONS if grasps is None else grasps)
        msg.header.stamp, msg.header.frame_id = stamp, OPTICAL_FRAME
        self.detections.publish(msg)
        return stamp


def start(graph, arm_config: str, **overrides) -> tuple[TransformNode, Driver]:
    """The node under test; the finger check is off unless overridden, since on the flat
    depth every grasp reaches 2 cm into the table, which the check rightly drops
    (test_the_finger_check_drops_grasps_into_the_table)."""
    overrides = {"grasp_depth_m": 0.02, "check_fingers": False, **overrides}
    params = [Parameter("arm_config", value=arm_config)]
    params += [Parameter(name, value=value) for name, value in overrides.items()]
    node = graph.add(TransformNode(context=graph.context, parameter_overrides=params))
    return node, Driver(graph)


def collect(graph, topic: str, kind: type) -> list:
    received: list = []
    graph.node(f"listener_{topic.replace('/', '_')}").create_subscription(
        kind, topic, received.append, 10
    )
    return received


def call(graph, driver: Driver, request: DetectGrasps.Request, send=None) -> DetectGrasps.Response:
    """Call DetectGrasps; while it waits, ``send()`` a frame every 0.2 s (if given)."""
    client = graph.node("caller").create_client(DetectGrasps, SERVICE)
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(request)
    deadline = time.monotonic() + 10.0
    while not future.done() and time.monotonic() < deadline:
        if send is not None:
            send()
        time.sleep(0.2)
    return graph.result(future, timeout=1.0, what="the DetectGrasps answer")


def test_grasps_in_the_base_frame_match_the_hand_computed_poses(ros_graph, arm_config):
    _, driver = start(ros_graph, arm_config)
    grasps = collect(ros_graph, GRASPS_TOPIC, GraspArray)
    markers = collect(ros_graph, MARKERS_TOPIC, MarkerArray)
    stamps = []
    deadline = time.monotonic() + 10.0
    while not (grasps and markers) and time.monotonic() < deadline:
        stamps.append(driver.send())
        time.sleep(0.2)
    ros_graph.wait_for(lambda: grasps and markers, what="grasps and markers")
    out = grasps[0]
    assert out.header.frame_id == "base_link"
    assert out.header.stamp in stamps
    # The too-wide and the out-of-workspace grasps are gone; the rest best first.
    assert [g.quality for g in out.grasps] == [BEST.quality, GOOD.quality]
    for msg, source in zip(out.grasps, (BEST, GOOD), strict=True):
        position, axis, approach, width = expected_base(source, 0.75, 0.02)
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        assert msg.pose.header.frame_id == "base_link"
        np.testing.assert_allclose([p.x, p.y, p.z], position, atol=1e-6)
        rotation = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
        np.testing.assert_allclose(rotation[:, 0], axis, atol=1e-6)
        np.testing.assert_allclose(rotation[:, 2], approach, atol=1e-6)
        assert msg.width == pytest.approx(width, rel=1e-5)
        assert (msg.label, msg.instance_id) == (source.label, 1)
        assert msg.image_grasp.u == source.u and msg.image_grasp.quality == source.quality
    first = markers[0].markers
    assert first[0].action == Marker.DELETEALL
    assert [m.type for m in first[1:]] == [Marker.LINE_LIST] * 2
    assert all(m.header.frame_id == "base_link" and len(m.points) == 8 for m in first[1:])
    # Colour by quality: the 0.875 grasp is greener than the 0.5 one.
    assert first[1].color.g == 1.0 and first[1].color.r < first[2].color.r
    # The fingertips' midpoint of the first marker is the grasp position.
    tips = [first[1].points[i] for i in (1, 3)]
    mid = [(tips[0].x + tips[1].x) / 2, (tips[0].y + tips[1].y) / 2, (tips[0].z + tips[1].z) / 2]
    np.testing.assert_allclose(mid, expected_base(BEST, 0.75, 0.02)[0], atol=1e-6)


def test_markers_are_built_only_while_something_subscribes(ros_graph, arm_config, monkeypatch):
    import grasp_transform.node as transform

    built: list[int] = []
    build = transform.marker_array
    monkeypatch.setattr(transform, "marker_array", lambda *a: built.append(1) or build(*a))
    node, driver = start(ros_graph, arm_config)
    driver.send()
    ros_graph.wait_for(lambda: node.transformed >= 1, what="a transformed frame")
    assert built == [], "markers were built with nobody subscribed"
    markers = collect(ros_graph, MARKERS_TOPIC, MarkerArray)
    ros_graph.wait_for(lambda: node.markers_pub.get_subscription_count() > 0, what="discovery")
    driver.send()
    ros_graph.wait_for(lambda: markers, what="markers once subscribed")
    assert built


def test_detect_grasps_answers_from_a_new_frame_with_the_filters(ros_graph, arm_config):
    _, driver = start(ros_graph, arm_config)
    before = time.time_ns()
    response = call(ros_graph, driver, DetectGrasps.Request(), driver.send)
    assert response.status == DetectGrasps.Response.OK, response.message
    stamp = response.grasps.header.stamp
    assert stamp.sec * 1_000_000_000 + stamp.nanosec > before
    assert [g.quality for g in response.grasps.grasps] == [BEST.quality, GOOD.quality]
    mugs = call(ros_graph, driver, DetectGrasps.Request(target_label="mug"), driver.send)
    assert mugs.status == DetectGrasps.Response.OK
    assert [g.label for g in mugs.grasps.grasps] == ["mug"]
    one = call(ros_graph, driver, DetectGrasps.Request(max_count=1), driver.send)
    assert [g.quality for g in one.grasps.grasps] == [BEST.quality]
    none = call(ros_graph, driver, DetectGrasps.Request(min_quality=0.99), driver.send)
    assert none.status == DetectGrasps.Response.NO_GRASP_FOUND
    assert "quality >= 0.99" in none.message and "exceeds the gripper" in none.message


def test_the_finger_check_drops_grasps_into_the_table(ros_graph, arm_config):
    # 3 cm into the table, clearly past TIP_TOLERANCE_M; not turned, since this frame's
    # grasps lie near the image's edge, where a turned finger reaches out of the image and
    # what the camera does not see counts as free (turns: tests/core/test_clearance.py).
    _, driver = start(
        ros_graph, arm_config, check_fingers=True, grasp_depth_m=0.03, max_turn_rad=0.0
    )
    response = call(ros_graph, driver, DetectGrasps.Request(), driver.send)
    assert response.status == DetectGrasps.Response.NO_GRASP_FOUND
    assert "a finger would land on something" in response.message


def test_detect_grasps_without_frames_returns_no_frame_after_its_timeout(ros_graph, arm_config):
    _, driver = start(ros_graph, arm_config, detect_timeout_s=0.5)
    t0 = time.monotonic()
    response = call(ros_graph, driver, DetectGrasps.Request())
    assert 0.4 < time.monotonic() - t0 < 3.0
    assert response.status == DetectGrasps.Response.NO_FRAME
    assert "0.5 s" in response.message and DETECTIONS_TOPIC in response.message


def test_closing_the_graph_while_detect_grasps_waits_lets_it_answer_first(arm_config, capsys):
    # A request waiting for a frame when the graph closes (a goal cancelled mid-detection,
    # then the demo ends) is answered before its service is destroyed, not after: rclpy
    # prints "exception was never retrieved: cannot use Destroyable" for a late answer.
    with TestGraph(domain_id=DOMAIN_ID) as graph:
        _, driver = start(graph, arm_config, detect_timeout_s=1.0)
        client = graph.node("caller").create_client(DetectGrasps, SERVICE)
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(DetectGrasps.Request())
        time.sleep(0.3)  # the handler is waiting for a frame
        assert not future.done()
    time.sleep(1.0)  # past the handler's timeout, had it outlived the graph
    del graph, driver, client, future
    gc.collect()
    assert "never retrieved" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ({"info": False}, "no camera_info"),
        ({"depth": np.zeros((K.height, K.width, 3), np.uint8), "encoding": "rgb8"}, "encoding"),
        ({"depth": np.full((60, 80), 750, np.uint16)}, "camera_info is 160x120"),
        ({"intrinsics": CameraIntrinsics(0.0, 0.0, 0.0, 0.0, 160, 120)}, "no usable K"),
    ],
)
def test_bad_frames_are_reported_and_the_node_keeps_answering(ros_graph, arm_config, frame, reason):
    node, driver = start(ros_graph, arm_config, detect_timeout_s=1.0)
    response = call(ros_graph, driver, DetectGrasps.Request(), lambda: driver.send(**frame))
    assert response.status == DetectGrasps.Response.NO_FRAME
    assert reason in response.message, response.message
    assert node.context.ok()
    good = call(ros_graph, driver, DetectGrasps.Request(), driver.send)
    assert good.status == DetectGrasps.Response.OK, good.message


def test_diagnostics_give_the_time_per_frame_and_the_frames_skipped(ros_graph, arm_config):
    _, driver = start(ros_graph, arm_config, detect_timeout_s=1.0)
    diagnostics = collect(ros_graph, "/diagnostics", DiagnosticArray)
    call(ros_graph, driver, DetectGrasps.Request(), lambda: driver.send(info=False))
    call(ros_graph, driver, DetectGrasps.Request(), driver.send)

    def latest() -> dict:
        status = [s for d in diagnostics for s in d.status if s.name == "grasp_transform"]
        return {kv.key: kv.value for kv in status[-1].values} if status else {}

    ros_graph.wait_for(lambda: int(latest().get("frames transformed", 0)) >= 1,
                       what="a transformed frame on /diagnostics")  # fmt: skip
    values = latest()
    assert float(values["transform_ms median"]) > 0.0
    assert int(values["frames skipped"]) >= 1  # the frames before any camera_info
    assert values["frames failed"] == "0"


def test_nan_depth_drops_every_grasp_with_its_reason(ros_graph, arm_config):
    _, driver = start(ros_graph, arm_config, detect_timeout_s=1.0)
    nan = np.full((K.height, K.width), np.nan, np.float32)
    response = call(ros_graph, driver, DetectGrasps.Request(),
                    lambda: driver.send(depth=nan, encoding="32FC1"))  # fmt: skip
    assert response.status == DetectGrasps.Response.NO_GRASP_FOUND
    assert "0 grasps passed" in response.message and "no valid depth" in response.message
    good = call(ros_graph, driver, DetectGrasps.Request(), driver.send)
    assert good.status == DetectGrasps.Response.OK, good.message


def test_calibration_file_overrides_the_arm_yaml(ros_graph, arm_config, tmp_path):
    calibration = tmp_path / "hand_eye.yaml"
    calibration.write_text("xyz: [0.4, 0.1, 0.8]\nquat_xyzw: [1.0, 0.0, 0.0, 0.0]\n")
    _, driver = start(ros_graph, arm_config, calibration_file=str(calibration))
    response = call(ros_graph, driver, DetectGrasps.Request(max_count=1), driver.send)
    assert response.status == DetectGrasps.Response.OK, response.message
    p = response.grasps.grasps[0].pose.pose.position
    # The same pixel as before, seen from a camera 0.1 m further to -x and +y.
    expected = expected_base(BEST, 0.75, 0.02)[0] + np.array([-0.1, 0.1, 0.0])
    np.testing.assert_allclose([p.x, p.y, p.z], expected, atol=1e-6)


def test_a_node_without_arm_config_refuses_to_start(ros_graph):
    with pytest.raises(ValueError, match="arm_config is required"):
        TransformNode(context=ros_graph.context)


def test_tf2_transform_becomes_the_camera_pose() -> None:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = "base_link", OPTICAL_FRAME
    t, q = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = 0.5, -0.2, 0.9
    q.z, q.w = math.sqrt(0.5), math.sqrt(0.5)  # a quarter turn about z
    expected = np.array([[0, -1, 0, 0.5], [1, 0, 0, -0.2], [0, 0, 1, 0.9], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(transform_matrix(msg), expected, atol=1e-12)


def test_frames_from_before_the_first_depth_are_skipped_without_a_warning(ros_graph, arm_config):
    node, driver = start(ros_graph, arm_config)
    logs: list[Log] = []
    listener = ros_graph.node("rosout_listener").create_subscription(
        Log, "/rosout", logs.append, 100
    )
    ros_graph.wait_for(lambda: listener.get_publisher_count() > 0, what="/rosout")

    def detections_only() -> None:
        msg = ImageGraspArray(grasps=[GOOD])
        msg.header.stamp, msg.header.frame_id = (
            ros_graph.node("driver").get_clock().now().to_msg(),
            OPTICAL_FRAME,
        )
        driver.detections.publish(msg)

    detections_only()  # made before the node saw any depth: the startup race of a launch
    ros_graph.wait_for(lambda: node.skipped >= 1, what="the early frame skipped")
    driver.send()
    ros_graph.wait_for(lambda: node.transformed >= 1, what="a transformed frame")
    time.sleep(0.3)  # the early frame's log, had there been one, has reached /rosout
    assert not [m.msg for m in logs if m.level >= Log.WARN]
    detections_only()  # stamped after the first depth, yet without one: a real fault
    ros_graph.wait_for(lambda: any("no depth image" in m.msg for m in logs if m.level == Log.WARN),
                       what="the warning for the later frame")  # fmt: skip
    assert node.skipped == 2
