"""grasp_transform: image grasps + aligned depth + camera_info -> 6-DoF grasps in the base frame.

Keeps the last depth images (by stamp) and the latest camera_info, pairs each detections
message with the depth of its stamp, publishes /grasp/grasps (GraspArray in base_frame, best
first) and, while something subscribes to them, /grasp/markers, and serves
/grasp/detect_grasps from the first frame stamped after the request. Camera -> base comes
from tf2 where it is installed and has the transform (hand-eye calibration as a static
transform), else from the calibration file / arm YAML.
Each frame's time from detections to base-frame grasps is reported on /diagnostics.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from grasp_camera.messages import CAMERA_INFO_TOPIC, DEPTH_TOPIC, stamp_ns
from grasp_core.callback_pool import queue_callbacks_once
from grasp_core.frames import load_camera_calibration
from grasp_core.gripper import GripperSpec
from grasp_core.node import run_node
from grasp_core.pose import APPROACHES, TransformSettings
from grasp_core.preprocess import InputError
from grasp_core.workspace import Workspace
from grasp_inference.diagnostics import diagnostics_msg
from grasp_inference.frames import LatencyStats
from grasp_interfaces.msg import GraspArray, ImageGraspArray
from grasp_interfaces.srv import DetectGrasps
from grasp_transform.convert import marker_array, transform_frame, transform_matrix

DETECTIONS_TOPIC, GRASPS_TOPIC, MARKERS_TOPIC = (
    "/grasp/detections",
    "/grasp/grasps",
    "/grasp/markers",
)
SERVICE = "/grasp/detect_grasps"
PARAMETERS = {
    "arm_config": "",  # per-arm YAML: workspace (required), camera, gripper, base_link
    "base_frame": "",  # '' = the arm YAML's base_link (base_link if it has none)
    "calibration_file": "",  # overrides the arm YAML's camera
    "use_tf": True,  # camera pose from tf2 when it is installed and has the transform
    "approach": "camera",  # camera | table_normal
    "grasp_depth_m": 0.04,  # fingertips past the surface; raised to the workspace floor
    "patch_radius_px": 3,
    "min_quality": 0.0,
    "max_opening_m": 0.0,  # 0: the arm YAML's gripper (the default gripper where it has none)
    "width_margin_m": 0.01,  # wider grasps kept, at the max opening, by up to this much
    "check_fingers": True,  # drop grasps whose fingers land on something (grasp_core.clearance)
    "max_turn_rad": 0.52,  # ... unless turning about the approach by up to this frees them
    "stamp_tolerance_s": 0.01,  # detections and depth of one frame are at most this far apart
    "depth_buffer": 30,  # depth frames kept to pair with detections: 1 s at 30 Hz
    "max_markers": 20,
    "detect_timeout_s": 2.0,
}


class TransformNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_transform", **kwargs)
        p = {name: self.declare_parameter(name, value).value for name, value in PARAMETERS.items()}
        if p["approach"] not in APPROACHES:
            raise ValueError(f"approach '{p['approach']}' is not one of {APPROACHES}")
        if not p["arm_config"]:
            raise ValueError("arm_config is required: its workspace bounds every grasp")
        config = load_yaml(p["arm_config"])
        gripper = GripperSpec(**config.get("gripper", {}))
        if p["max_opening_m"]:
            gripper = replace(gripper, max_opening=p["max_opening_m"])
        self.settings = TransformSettings.from_parameters(
            p, Workspace.load(p["arm_config"]), gripper
        )
        self.base_frame = p["base_frame"] or config.get("base_link", "base_link")
        self.p = p
        calibration = p["calibration_file"] or (p["arm_config"] if "camera" in config else "")
        self.calibration = load_camera_calibration(calibration) if calibration else None
        self.camera_source = ""  # where the last camera pose came from, logged on change
        self.tf_buffer = self._tf_buffer() if p["use_tf"] else None
        self.depths: deque[tuple[int, Image]] = deque(maxlen=p["depth_buffer"])
        # Stamp (ns) of the first depth image received: detections of earlier frames were
        # made before this node listened (a startup race, not a fault), so they are skipped
        # without a warning.
        self.first_depth_stamp: int | None = None
        self.camera_info: CameraInfo | None = None
        # (stamp ns, GraspArray or None, message, failed): what became of each recent frame;
        # message: why it or some of its grasps were dropped; failed: the transform broke.
        self.outcomes: deque[tuple[int, GraspArray | None, str, bool]] = deque(maxlen=16)
        self.changed = threading.Condition()
        self.waiting_calls = 0  # DetectGrasps calls waiting for a frame
        self.closing = False
        self.create_subscription(Image, DEPTH_TOPIC, self._on_depth, qos_profile_sensor_data)
        self.create_subscription(
            CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info, qos_profile_sensor_data
        )
        self.create_subscription(ImageGraspArray, DETECTIONS_TOPIC, self._on_detections, 10)
        self.grasps_pub = self.create_publisher(GraspArray, GRASPS_TOPIC, 10)
        self.markers_pub = self.create_publisher(MarkerArray, MARKERS_TOPIC, 10)
        self.stats, self.transformed, self.skipped, self.failed = LatencyStats(), 0, 0, 0
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self._publish_diagnostics)
        # Reentrant, so a waiting call leaves the frames' callbacks free to run.
        self.create_service(
            DetectGrasps, SERVICE, self._on_detect, callback_group=ReentrantCallbackGroup()
        )

    def _tf_buffer(self):
        try:
            import tf2_ros  # a full ROS install has it; the PyPI one does not
        except ImportError:
            self.get_logger().info("tf2_ros is not installed: camera pose from the calibration")
            return None
        buffer = tf2_ros.Buffer()
        self.tf_listener = tf2_ros.TransformListener(buffer, self)
        self.tf_error = tf2_ros.TransformException
        return buffer

    def _camera_pose(self, optical_frame: str) -> np.ndarray:
        """T_base_optical from tf2 if it has it, else the calibration; logs the source."""
        pose, source = self.calibration, "calibration"
        if self.tf_buffer is not None:
            try:
                pose = transform_matrix(
                    self.tf_buffer.lookup_transform(self.base_frame, optical_frame, Time())
                )
                source = "tf2"
            except self.tf_error as err:
                source = "calibration (tf2 has no such transform)"
                self.get_logger().debug(f"tf2: {err}")
        if pose is None:
            raise InputError(
                f"no transform {self.base_frame} <- {optical_frame}: publish the hand-eye "
                "calibration on tf or set calibration_file / the arm YAML's camera"
            )
        if source != self.camera_source:
            self.camera_source = source
            self.get_logger().info(f"camera pose from {source}")
        return pose

    def _on_depth(self, msg: Image) -> None:
        stamp = stamp_ns(msg.header)
        if self.first_depth_stamp is None:
            self.first_depth_stamp = stamp
        self.depths.append((stamp, msg))

    def _before_listening(self, stamp: int) -> bool:
        """The frame stamped ``stamp`` (ns) is older than the first depth image received."""
        return self.first_depth_stamp is None or stamp < self.first_depth_stamp

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def _depth_at(self, stamp: int) -> Image:
        tolerance = self.p["stamp_tolerance_s"] * 1e9
        near = [(abs(s - stamp), m) for s, m in list(self.depths) if abs(s - stamp) <= tolerance]
        if not near:
            raise InputError(f"no depth image on {DEPTH_TOPIC} within {tolerance / 1e6:.0f} ms "
                             "of the detections' stamp")  # fmt: skip
        return min(near, key=lambda d: d[0])[1]

    def _on_detections(self, msg: ImageGraspArray) -> None:
        stamp, grasps, error, failed = stamp_ns(msg.header), None, "", False
        try:
            if self.camera_info is None:
                raise InputError(f"no camera_info on {CAMERA_INFO_TOPIC}: no grasps can be made")
            base_from_optical = self._camera_pose(msg.header.frame_id)
            t0 = time.perf_counter()
            grasps, result = transform_frame(
                msg, self._depth_at(stamp), self.camera_info, base_from_optical, self.settings,
                self.base_frame,
            )  # fmt: skip
            self.stats.add(transform_ms=(time.perf_counter() - t0) * 1e3)
            self.transformed += 1
            self.grasps_pub.publish(grasps)
            if self.markers_pub.get_subscription_count() > 0:  # built for viewers only
                shown = result.poses.select(slice(0, self.p["max_markers"]))
                self.markers_pub.publish(marker_array(shown, grasps.header, self.settings.gripper))
            for index, reason in result.dropped:
                self.get_logger().debug(f"grasp {index} dropped: {reason}")
            error = "; ".join(f"grasp {i} dropped: {r}" for i, r in result.dropped[:3])
        except InputError as err:
            error = f"frame skipped: {err}"
            self.skipped += 1
            if self._before_listening(stamp):
                self.get_logger().debug(f"{error} (a frame from before this node's first depth)")
            else:
                self.get_logger().warn(error, throttle_duration_sec=2.0)
        except Exception as err:  # a bug must fail the request, not the node
            error, failed = f"transform failed: {type(err).__name__}: {err}", True
            self.failed += 1
            self.get_logger().error(error, throttle_duration_sec=2.0)
        with self.changed:
            self.outcomes.append((stamp, grasps, error, failed))
            self.changed.notify_all()

    def _publish_diagnostics(self) -> None:
        counts = {
            "frames transformed": self.transformed,
            "frames skipped": self.skipped,
            "frames failed": self.failed,
        }
        self.diag_pub.publish(
            diagnostics_msg(
                "grasp_transform", DiagnosticStatus.OK, f"to {self.base_frame}", self.stats,
                counts, self.get_clock().now().to_msg(),
            )
        )  # fmt: skip

    def _first_after(self, after: int) -> tuple | None:
        """The first processed or failed frame stamped after ``after`` ns."""
        return next((o for o in self.outcomes if o[0] > after and (o[1] is not None or o[3])), None)

    def _wait_first_after(self, after: int, timeout: float) -> tuple | None:
        """_first_after(after), waiting up to ``timeout`` s; None if none came or the node
        is closing. Call with self.changed held."""
        deadline = time.monotonic() + timeout
        self.waiting_calls += 1
        try:
            while not (frame := self._first_after(after)) and not self.closing:
                if not self.changed.wait(deadline - time.monotonic()):
                    return None
            return frame
        finally:
            self.waiting_calls -= 1
            self.changed.notify_all()

    def _on_detect(self, request, response):
        after, timeout = self.get_clock().now().nanoseconds, self.p["detect_timeout_s"]
        with self.changed:
            frame = self._wait_first_after(after, timeout)
            errors = [o[2] for o in self.outcomes if o[0] > after]
        if frame is None:
            response.status = DetectGrasps.Response.NO_FRAME
            response.message = "grasp_transform is shutting down" if self.closing else (
                f"no usable camera frame within {timeout:.1f} s" + (
                    f"; last: {errors[-1]}" if errors else
                    f"; no detections on {DETECTIONS_TOPIC} stamped after the request"
                )
            )  # fmt: skip
            return response
        if frame[3]:
            response.status, response.message = DetectGrasps.Response.FAILED, frame[2]
            return response
        grasps = frame[1]
        kept = [
            g for g in grasps.grasps
            if g.quality >= request.min_quality
            and (not request.target_label or g.label == request.target_label)
        ][: request.max_count or None]  # fmt: skip
        response.grasps = GraspArray(header=grasps.header, grasps=kept)
        response.status = DetectGrasps.Response.OK if kept else DetectGrasps.Response.NO_GRASP_FOUND
        if not kept:
            response.message = (
                f"{len(grasps.grasps)} grasps passed the checks, none with label "
                f"'{request.target_label or '*'}' and quality >= {request.min_quality:.2f}"
                + (f"; {frame[2]}" if frame[2] else "")
            )
        return response

    def end_callbacks(self) -> None:
        """DetectGrasps calls waiting for a frame answer NO_FRAME now, and new ones at once."""
        with self.changed:
            self.closing = True
            self.changed.notify_all()

    def destroy_node(self) -> None:
        # Waiting calls answer while their service exists: answered after it is destroyed,
        # rclpy prints "cannot use Destroyable".
        self.end_callbacks()
        with self.changed:
            self.changed.wait_for(lambda: self.waiting_calls == 0, timeout=1.0)
        super().destroy_node()


def load_yaml(path: str) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping (per-arm configuration)")
    return data


def main() -> None:
    # Waiting DetectGrasps calls hold a thread each; the frames need one more.
    run_node(TransformNode, lambda: queue_callbacks_once(MultiThreadedExecutor(num_threads=4)))
