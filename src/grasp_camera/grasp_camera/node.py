"""grasp_camera: publishes a camera source's frames under realsense2_camera's topic names.

Every frame goes out as colour (rgb8), depth aligned to it (16UC1, mm) and the colour
camera_info, all three with the frame's capture stamp, with sensor-data QoS. A source that
fails (unplugged, stalled, bad replay folder) is logged, throttled, and retried next period.
The source lives on one reader thread of its own: MuJoCo's EGL context works only on the
thread that made it, and a RealSense read blocks until the camera's next frame.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, fields

from builtin_interfaces.msg import Time
from rclpy.node import Node

from grasp_camera.frame import CameraError, CameraSource
from grasp_camera.messages import OPTICAL_FRAME, CameraPublisher
from grasp_camera.sources import SourceSettings, make_source
from grasp_core.node import run_node

# Parameters: the source's settings (sources.SourceSettings, same names and defaults) and these.
PARAMETERS = {
    **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(SourceSettings()).items()},
    "rate_hz": 10.0,  # reads per second; a RealSense read also waits for its next frame
    "frame_id": OPTICAL_FRAME,
}
LOG_EVERY_S = 5.0


def stamp_of(seconds: float) -> Time:
    """builtin_interfaces/Time of a time in s since the Unix epoch."""
    ns = round(seconds * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class CameraNode(Node):
    """The driver node; keyword arguments go to rclpy's Node (context, parameter_overrides)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_camera", **kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        value = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.frame_id = value["frame_id"]
        settings = SourceSettings(**{f.name: value[f.name] for f in fields(SourceSettings)})
        self.source: CameraSource | None = None
        try:
            if value["rate_hz"] <= 0:
                raise CameraError(f"rate_hz is {value['rate_hz']}: frames/s must be > 0")
            self.source = make_source(settings)
        except CameraError as error:
            self.setup_error = str(error)
        self.camera = CameraPublisher(self)
        self.period_s = 1.0 / value["rate_hz"] if self.source else LOG_EVERY_S
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self.run, name="grasp_camera_reader", daemon=True)
        self.reader.start()
        self.get_logger().info(f"source '{settings.source}' at {value['rate_hz']} Hz")

    def run(self) -> None:
        """Read and publish once per period until stopped, then close the source."""
        next_time = time.monotonic()
        while not self.stop.wait(max(0.0, next_time - time.monotonic())):
            next_time = max(next_time + self.period_s, time.monotonic())
            self.tick()
        if self.source is not None:
            self.source.close()

    def tick(self) -> None:
        try:
            if self.source is None:
                raise CameraError(self.setup_error)
            frame = self.source.read()
        except CameraError as error:
            self.get_logger().error(str(error), throttle_duration_sec=LOG_EVERY_S)
            return
        stamp = stamp_of(frame.stamp_s)
        self.camera.publish(frame.rgb, frame.depth_mm, frame.intrinsics, stamp, self.frame_id)

    def destroy_node(self) -> None:
        self.stop.set()
        self.reader.join()
        super().destroy_node()


def main() -> None:
    run_node(CameraNode)
