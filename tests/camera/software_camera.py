"""A RealSense without hardware: librealsense's software_device with a z16 depth sensor and
an rgb8 colour sensor, whose frames go through the real library (syncer, filters, align).

SoftwareCamera.connect has start_pipeline's signature; the stream it returns pushes the
scene shown to the camera into the sensors whenever it is asked for frames, as a streaming
camera would deliver it. ``plugged = False`` makes connect fail and the stream deliver
nothing, as after an unplug.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyrealsense2 as rs

from grasp_camera.realsense import StreamProfile
from grasp_core.camera import CameraIntrinsics

FPS = 30


def rs_intrinsics(k: CameraIntrinsics) -> rs.intrinsics:
    out = rs.intrinsics()
    out.width, out.height, out.fx, out.fy, out.ppx, out.ppy = (
        k.width, k.height, k.fx, k.fy, k.cx, k.cy,
    )  # fmt: skip
    out.model, out.coeffs = rs.distortion.none, [0.0] * 5
    return out


def _stream(kind: rs.stream, uid: int, k: CameraIntrinsics, fmt: rs.format, bpp: int):
    s = rs.video_stream()
    s.type, s.index, s.uid, s.fps, s.fmt, s.bpp = kind, 0, uid, FPS, fmt, bpp
    s.width, s.height, s.intrinsics = k.width, k.height, rs_intrinsics(k)
    return s


@dataclass
class Scene:
    depth: np.ndarray  # HxW uint16 in depth_units
    rgb: np.ndarray  # HxWx3 uint8


class SoftwareCamera:
    """depth, color: the two streams' intrinsics; depth_units: m per z16 unit;
    depth_to_color_m: translation (m) from the depth to the colour camera (no rotation);
    clock: the timestamp domain frames are stamped in."""

    def __init__(
        self,
        depth: CameraIntrinsics,
        color: CameraIntrinsics,
        depth_units: float = 0.001,
        depth_to_color_m: tuple[float, float, float] = (0.0, 0.0, 0.0),
        clock: rs.timestamp_domain = rs.timestamp_domain.system_time,
    ) -> None:
        self.device = rs.software_device()
        self.depth_sensor = self.device.add_sensor("Depth")
        self.color_sensor = self.device.add_sensor("Color")
        self.depth_profile = self.depth_sensor.add_video_stream(
            _stream(rs.stream.depth, 0, depth, rs.format.z16, 2), True
        ).as_video_stream_profile()
        self.depth_sensor.add_read_only_option(rs.option.depth_units, depth_units)
        self.color_profile = self.color_sensor.add_video_stream(
            _stream(rs.stream.color, 1, color, rs.format.rgb8, 3), True
        ).as_video_stream_profile()
        extrinsics = rs.extrinsics()
        extrinsics.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        extrinsics.translation = list(depth_to_color_m)
        self.depth_profile.register_extrinsics_to(self.color_profile, extrinsics)
        self.device.create_matcher(rs.matchers.default)
        self.depth_units, self.clock = depth_units, clock
        self.plugged = True
        self.streams: list[SoftwareStream] = []  # one per successful connect
        self.profiles: list[StreamProfile] = []
        self.scene: Scene | None = None
        self.frame_number = 0
        # System time counts from the Unix epoch, a device's hardware clock from power-up.
        on_device = clock == rs.timestamp_domain.hardware_clock
        self.start_ms = 0.0 if on_device else time.time() * 1000.0

    def show(self, depth: np.ndarray, rgb: np.ndarray) -> None:
        """The scene the camera sees from now on: each wait_for_frames sends it once."""
        self.scene = Scene(depth, rgb)

    def connect(self, profile: StreamProfile) -> SoftwareStream:
        if not self.plugged:
            raise RuntimeError("No device connected")
        self.profiles.append(profile)
        self.streams.append(SoftwareStream(self))
        return self.streams[-1]

    def push(self) -> None:
        """Send the scene once, stamped as a 30 fps camera started at construction."""
        frame = self.scene
        self.frame_number += 1
        # The syncer pairs frames by timestamp and frame period, so the clock must tick at fps.
        timestamp_ms = self.start_ms + self.frame_number * 1000.0 / FPS
        for sensor, profile, pixels, bpp in (
            (self.depth_sensor, self.depth_profile, frame.depth, 2),
            (self.color_sensor, self.color_profile, frame.rgb, 3),
        ):
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = pixels, bpp, pixels.shape[1] * bpp
            f.timestamp, f.domain = timestamp_ms, self.clock
            f.frame_number, f.profile = self.frame_number, profile
            if sensor is self.depth_sensor:
                f.depth_units = self.depth_units
            sensor.on_video_frame(f)


class SoftwareStream:
    """The sensors opened into an rs.syncer, like a started pipeline."""

    def __init__(self, camera: SoftwareCamera) -> None:
        self.camera = camera
        self.syncer = rs.syncer()
        camera.depth_sensor.open(camera.depth_profile)
        camera.color_sensor.open(camera.color_profile)
        camera.depth_sensor.start(self.syncer)
        camera.color_sensor.start(self.syncer)
        self.stopped = False

    def wait_for_frames(self, timeout_ms: int) -> rs.composite_frame:
        if self.camera.plugged and self.camera.scene is not None:
            self.camera.push()
        return self.syncer.wait_for_frames(timeout_ms)

    def stop(self) -> None:
        for sensor in (self.camera.depth_sensor, self.camera.color_sensor):
            sensor.stop()
            sensor.close()
        self.stopped = True
