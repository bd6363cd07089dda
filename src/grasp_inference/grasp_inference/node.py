"""grasp_inference: serves a grasp network on the camera's frames through ONNX Runtime.

Subscribes the realsense2_camera topics, matches colour, depth and camera_info by stamp,
runs the newest complete frame in a worker thread (frames that arrive while it is busy
replace each other: drop, don't queue) and publishes /grasp/detections, an annotated
/grasp/debug_image, for instance-wise models (SSG) the instance masks on /grasp/instances
(both images only while something subscribes to them), and per-frame latency on
/diagnostics.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger

from grasp_camera.messages import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    image_array,
    image_msg,
    stamp_ns,
)  # fmt: skip
from grasp_core.draw import draw_grasps, tint_instances
from grasp_core.instances import instance_image
from grasp_core.node import run_node
from grasp_core.postprocess import PostprocessParams
from grasp_core.preprocess import InputError
from grasp_core.serving import (
    GraspPredictor,
    InstancePrediction,
    InstancePredictor,
    open_predictor,
)  # fmt: skip
from grasp_inference.diagnostics import diagnostics_msg
from grasp_inference.frames import LatencyStats, LatestSlot, StampMatcher
from grasp_interfaces.msg import ImageGrasp, ImageGraspArray

DETECTIONS_TOPIC = "/grasp/detections"
DEBUG_IMAGE_TOPIC = "/grasp/debug_image"
INSTANCES_TOPIC = "/grasp/instances"  # instance-wise models: 16UC1, pixel = instance_id
MODES = ("continuous", "on_demand")
PARAMETERS = {
    "model": "grconvnet",  # grconvnet | ggcnn2 | ssg: the file <models_dir>/<model>.onnx
    "model_path": "",  # overrides model and models_dir
    "models_dir": "models",
    "providers": ["tensorrt", "cuda", "cpu"],  # preference order; unavailable ones are skipped
    "mode": "continuous",  # or on_demand: one frame per call of ~/detect
    "max_grasps": 10,
    "min_quality": 0.2,
    "depth_scale_m": 0.001,  # m per unit of 16UC1 depth
    "publish_debug_image": True,
}


def image_grasp_msg(g) -> ImageGrasp:
    """The message of a grasp_core.grasp.ImageGrasp (numpy scalars become Python ones)."""
    return ImageGrasp(
        u=float(g.u), v=float(g.v), angle=float(g.angle), width=float(g.width),
        jaw_length=float(g.jaw_length), quality=float(g.quality),
        instance_id=int(g.instance_id), label=g.label,
    )  # fmt: skip


class InferenceNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_inference", **kwargs)
        p = {
            name: self.declare_parameter(name, default).value
            for name, default in PARAMETERS.items()
        }
        if p["mode"] not in MODES:
            raise ValueError(f"mode '{p['mode']}' is not one of {MODES}")
        self.mode, self.depth_scale_m = p["mode"], p["depth_scale_m"]
        self.publish_debug = p["publish_debug_image"]
        path = Path(p["model_path"] or Path(p["models_dir"]) / f"{p['model']}.onnx")
        self.predictor: GraspPredictor | InstancePredictor | None = None
        self.status = (DiagnosticStatus.ERROR, "model not loaded")
        try:
            self.predictor = open_predictor(
                path,
                providers=list(p["providers"]),
                params=PostprocessParams(max_grasps=p["max_grasps"], threshold=p["min_quality"]),
            )
            self.status = (DiagnosticStatus.OK, f"{path.name} on {self.predictor.providers[0]}")
            self.get_logger().info(f"serving {path} on {self.predictor.providers}")
        except Exception as err:  # a bad model file must not take the graph down
            self.status = (DiagnosticStatus.ERROR, f"cannot serve {path}: {err}")
            self.get_logger().error(self.status[1])

        self.matcher, self.slot, self.stats = StampMatcher(), LatestSlot(), LatencyStats()
        self.processed = self.failed = 0
        self.requests = threading.Semaphore(0)
        for stream, kind, topic in (
            ("color", Image, COLOR_TOPIC),
            ("depth", Image, DEPTH_TOPIC),
            ("camera_info", CameraInfo, CAMERA_INFO_TOPIC),
        ):
            self.create_subscription(
                kind, topic, lambda m, s=stream: self._on_message(s, m), qos_profile_sensor_data
            )
        self.detections_pub = self.create_publisher(ImageGraspArray, DETECTIONS_TOPIC, 10)
        self.debug_pub = self.create_publisher(Image, DEBUG_IMAGE_TOPIC, qos_profile_sensor_data)
        self.instances_pub = self.create_publisher(Image, INSTANCES_TOPIC, qos_profile_sensor_data)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(Trigger, "~/detect", self._on_detect)
        self.create_timer(1.0, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, daemon=True)
        self._worker.start()

    def _on_message(self, stream: str, msg) -> None:
        frame = self.matcher.add(stream, stamp_ns(msg.header), msg)
        if frame is None or self.predictor is None:
            return
        if self.mode == "continuous" or self.requests.acquire(blocking=False):
            self.slot.put(frame)

    def _on_detect(self, _request, response):
        """on_demand mode: run the next complete frame."""
        self.requests.release()
        response.success = self.mode == "on_demand"
        response.message = "the next frame will be processed" if response.success else (
            "mode is continuous: every frame is processed already"
        )  # fmt: skip
        return response

    def _work(self) -> None:
        while (frame := self.slot.take()) is not None:  # None once the node is destroyed
            try:
                self._process(frame)
            except Exception as err:  # a bug must fail the frame, not stop the serving
                if not self.context.ok():
                    return  # shut down mid-frame (Ctrl-C, the launch system): nowhere to publish
                self.failed += 1
                self.get_logger().error(
                    f"frame failed: {type(err).__name__}: {err}", throttle_duration_sec=2.0
                )

    def _process(self, frame: dict) -> None:
        color = frame["color"]
        try:
            rgb = image_array(color)
            depth = image_array(frame["depth"])
            if rgb.ndim != 3:
                raise InputError(f"colour image is {color.encoding}; send rgb8 or bgr8")
            t0 = time.perf_counter()
            prediction = self.predictor.predict(rgb, depth, self.depth_scale_m)
            total_ms = (time.perf_counter() - t0) * 1e3
        except InputError as err:
            self.failed += 1
            self.get_logger().warn(f"frame skipped: {err}", throttle_duration_sec=2.0)
            return
        self.processed += 1
        self.stats.add(
            preprocess_ms=prediction.preprocess_ms,
            inference_ms=prediction.inference_ms,
            postprocess_ms=prediction.postprocess_ms,
            total_ms=total_ms,
        )
        out = ImageGraspArray(header=color.header)
        out.grasps = [image_grasp_msg(g) for g in prediction.grasps]
        self.detections_pub.publish(out)
        stamp, frame_id = color.header.stamp, color.header.frame_id
        # The pictures are drawn for subscribers only: drawing and serialising 640x480 images
        # holds the interpreter while the transform node works on this frame's detections
        # (in one process on 2 cores, its time per frame went from 3.6 to 6.0 ms).
        shown = self.publish_debug and self.debug_pub.get_subscription_count() > 0
        labels = None
        if isinstance(prediction, InstancePrediction) and (
            shown or self.instances_pub.get_subscription_count() > 0
        ):
            labels = instance_image(prediction.instances, prediction.crop, rgb.shape[:2])
            self.instances_pub.publish(image_msg(labels, "16UC1", stamp, frame_id))
        if shown:
            bgr = draw_grasps(rgb, prediction.grasps)
            if labels is not None:
                bgr = tint_instances(bgr, labels)
            self.debug_pub.publish(image_msg(bgr, "bgr8", stamp, frame_id))

    def _publish_diagnostics(self) -> None:
        level, message = self.status
        missing = self.matcher.missing()
        if missing and level == DiagnosticStatus.OK:
            message = f"waiting for {', '.join(sorted(missing))}"
        counts = {
            "frames processed": self.processed,
            "frames dropped": self.slot.dropped,
            "frames failed": self.failed,
        }
        stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(
            diagnostics_msg("grasp_inference", level, message, self.stats, counts, stamp)
        )

    def destroy_node(self) -> None:
        self.slot.close()
        self._worker.join(timeout=10.0)  # its publishers must outlive the frame in hand
        super().destroy_node()


def main() -> None:
    run_node(InferenceNode)
