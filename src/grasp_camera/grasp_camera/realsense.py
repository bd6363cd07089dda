"""RealSense through pyrealsense2: depth aligned to colour, intrinsics read from the device.

A frame stream (an rs.pipeline on a real camera) delivers framesets; RealSenseSource
filters the depth, aligns it to the colour stream with rs.align, and re-opens the stream
when frames stop (a cable pulled, a USB reset), so a driver built on it rides out unplugs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyrealsense2 as rs

from grasp_camera.frame import CameraError, CameraFrame, depth_mm
from grasp_core.camera import CameraIntrinsics

# librealsense's post-processing blocks by the names the `filters` setting uses, in the
# order Intel recommends (spatial and temporal smoothing before filling holes).
FILTERS: dict[str, Callable[[], rs.filter]] = {
    "spatial": rs.spatial_filter,
    "temporal": rs.temporal_filter,
    "hole_filling": rs.hole_filling_filter,
}
# Timestamp domains that count from the Unix epoch (the hardware clock counts from power-up).
_EPOCH_DOMAINS = (rs.timestamp_domain.system_time, rs.timestamp_domain.global_time)


@dataclass(frozen=True)
class StreamProfile:
    """The streams asked of the camera: colour rgb8 and depth z16, both width x height px
    at fps frames/s; serial picks one camera ('' = the first found)."""

    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str = ""


class FrameStream(Protocol):
    """What RealSenseSource reads from: an rs.pipeline, or any object that behaves like one."""

    def wait_for_frames(self, timeout_ms: int) -> rs.composite_frame: ...

    def stop(self) -> None: ...


def start_pipeline(profile: StreamProfile) -> FrameStream:
    """An rs.pipeline streaming ``profile``; RuntimeError when no such camera is connected."""
    # pipeline.start waits many seconds for an absent camera; asking the context is instant.
    serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
    if not serials or (profile.serial and profile.serial not in serials):
        raise RuntimeError(f"no such RealSense connected (connected: {serials or 'none'})")
    config = rs.config()
    if profile.serial:
        config.enable_device(profile.serial)
    for stream, fmt in ((rs.stream.depth, rs.format.z16), (rs.stream.color, rs.format.rgb8)):
        config.enable_stream(stream, profile.width, profile.height, fmt, profile.fps)
    pipeline = rs.pipeline()
    pipeline.start(config)
    return pipeline


def intrinsics_of(frame: rs.video_frame) -> CameraIntrinsics:
    """The pinhole intrinsics (px) of a video frame's stream profile, as the device reports.

    The D400 colour stream's distortion coefficients are zero, so the pinhole holds."""
    i = frame.profile.as_video_stream_profile().get_intrinsics()
    return CameraIntrinsics(
        fx=i.fx, fy=i.fy, cx=i.ppx, cy=i.ppy, width=int(i.width), height=int(i.height)
    )


def capture_time_s(frame: rs.frame) -> float:
    """A frame's capture time, s since the Unix epoch; arrival time for device clocks."""
    if frame.get_frame_timestamp_domain() in _EPOCH_DOMAINS:
        return frame.get_timestamp() / 1000.0
    return time.time()


class RealSenseSource:
    """A RealSense camera as a CameraSource.

    profile: the streams to ask for. filters: names from FILTERS, applied to the depth
    before alignment. timeout_s: a read that sees no frameset for this long closes the
    stream and raises CameraError; the next read re-opens it. connect: opens the stream
    (start_pipeline for a real camera).
    """

    def __init__(
        self,
        profile: StreamProfile = StreamProfile(),
        filters: tuple[str, ...] = (),
        timeout_s: float = 1.0,
        connect: Callable[[StreamProfile], FrameStream] = start_pipeline,
    ) -> None:
        unknown = [name for name in filters if name not in FILTERS]
        if unknown:
            raise CameraError(f"unknown depth filters {unknown}; choose from {', '.join(FILTERS)}")
        self.profile, self.filters, self.timeout_s = profile, tuple(filters), timeout_s
        self._connect = connect
        self._stream: FrameStream | None = None
        self._blocks: list[rs.filter] = []
        self._align = rs.align(rs.stream.color)

    def _describe(self) -> str:
        which = f"serial {self.profile.serial}" if self.profile.serial else "the first found"
        p = self.profile
        return f"RealSense ({which}, {p.width}x{p.height} at {p.fps} fps)"

    def open(self) -> None:
        if self._stream is not None:
            return
        try:
            self._stream = self._connect(self.profile)
        except RuntimeError as error:
            raise CameraError(
                f"cannot open {self._describe()}: {error}; check the cable and the serial, retrying"
            ) from None
        # Fresh filter state: the temporal filter must not blend frames across a reconnect.
        self._blocks = [FILTERS[name]() for name in self.filters]

    def _next_frameset(self) -> rs.composite_frame:
        # Until both streams are running, a frameset may hold only one of them.
        deadline = time.monotonic() + self.timeout_s
        while True:
            left_ms = max(1, round((deadline - time.monotonic()) * 1000))
            frames = self._stream.wait_for_frames(left_ms)
            if frames.get_color_frame() and frames.get_depth_frame():
                return frames
            if time.monotonic() > deadline:
                raise RuntimeError("only incomplete framesets (colour or depth missing)")

    def read(self) -> CameraFrame:
        self.open()
        try:
            frames = self._next_frameset()
        except RuntimeError as error:
            self.close()
            raise CameraError(
                f"no frames from {self._describe()} for {self.timeout_s:.1f} s ({error}): "
                "unplugged or stalled; re-opening"
            ) from None
        for block in self._blocks:
            frames = block.process(frames).as_frameset()
        aligned = self._align.process(frames)
        color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
        raw = np.asanyarray(depth.get_data())
        return CameraFrame(
            rgb=np.asanyarray(color.get_data()).copy(),
            depth_mm=depth_mm(raw * np.float32(depth.get_units())),
            intrinsics=intrinsics_of(color),
            stamp_s=capture_time_s(color),
        )

    def close(self) -> None:
        if self._stream is None:
            return
        stream, self._stream = self._stream, None
        # An unplugged camera cannot be stopped; dropping the stream releases it.
        with contextlib.suppress(RuntimeError):
            stream.stop()
