"""RealSenseSource through real librealsense: a software_device's z16 + rgb8 frames are
synced, filtered, aligned to colour and read back with the device's intrinsics."""

from __future__ import annotations

import time

import numpy as np
import pyrealsense2 as rs
import pytest

from grasp_camera.frame import CameraError
from grasp_camera.realsense import RealSenseSource, StreamProfile
from grasp_core.camera import CameraIntrinsics
from tests.camera.software_camera import FPS, SoftwareCamera

# Values exact in float32, so the intrinsics read back compare equal.
COLOR = CameraIntrinsics(fx=615.25, fy=615.5, cx=320.0, cy=240.0, width=640, height=480)
HALF = CameraIntrinsics(fx=307.625, fy=307.75, cx=160.0, cy=120.0, width=320, height=240)
# A depth camera with a slightly wider view than the colour one, as on a D435: aligned, it
# covers every colour pixel (identical intrinsics leave rs.align's rounding gaps).
WIDE = CameraIntrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)


def _rgb() -> np.ndarray:
    v, u = np.mgrid[0:480, 0:640]
    return np.stack([u % 256, v % 256, (u + v) % 256], axis=-1).astype(np.uint8)


def _source(camera: SoftwareCamera, *filters: str, timeout_s: float = 0.3) -> RealSenseSource:
    return RealSenseSource(StreamProfile(), filters, timeout_s, connect=camera.connect)


def test_depth_is_aligned_to_the_colour_stream_with_the_device_intrinsics() -> None:
    # A 320x240 depth stream with half the colour focal length, same optical centre: a
    # 40 px square around the depth image's centre covers an 80 px square around the colour
    # image's centre once aligned.
    camera = SoftwareCamera(depth=HALF, color=COLOR)
    depth = np.zeros((240, 320), np.uint16)
    depth[100:140, 140:180] = 500
    rgb = _rgb()
    camera.show(depth, rgb)
    source = _source(camera)
    frame = source.read()
    source.close()

    assert frame.intrinsics == COLOR
    assert frame.depth_mm.shape == (480, 640) and frame.depth_mm.dtype == np.uint16
    np.testing.assert_array_equal(frame.rgb, rgb)
    assert (frame.depth_mm[205:275, 285:355] == 500).all()
    assert (frame.depth_mm[:190] == 0).all() and (frame.depth_mm[290:] == 0).all()
    assert (frame.depth_mm[:, :270] == 0).all() and (frame.depth_mm[:, 370:] == 0).all()


def test_depth_units_other_than_mm_are_converted_to_mm() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR, depth_units=0.0001)  # D405-like
    camera.show(np.full((480, 640), 6543, np.uint16), _rgb())
    source = _source(camera)
    assert (source.read().depth_mm == 654).all()  # 654.3 mm, rounded
    source.close()


def test_stamp_is_the_device_capture_time() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR)
    camera.show(np.full((480, 640), 500, np.uint16), _rgb())
    source = _source(camera)
    frame = source.read()
    source.close()
    sent_ms = camera.start_ms + camera.frame_number * 1000.0 / FPS
    assert frame.stamp_s == pytest.approx(sent_ms / 1000.0, abs=1e-3)


def test_frames_on_the_device_clock_are_stamped_on_arrival() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR, clock=rs.timestamp_domain.hardware_clock)
    camera.show(np.full((480, 640), 500, np.uint16), _rgb())
    source = _source(camera)
    before = time.time()
    frame = source.read()
    source.close()
    assert before <= frame.stamp_s <= time.time()


def test_hole_filling_fills_missing_depth_and_is_off_by_default() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR)
    depth = np.full((480, 640), 700, np.uint16)
    depth[200:260, 300:340] = 0
    camera.show(depth, _rgb())
    plain = _source(camera)
    assert (plain.read().depth_mm[202:258, 302:338] == 0).all()
    plain.close()
    filled = _source(camera, "hole_filling")
    assert (filled.read().depth_mm == 700).all()
    filled.close()


def test_spatial_and_temporal_filters_run_in_the_chain() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR)
    camera.show(np.full((480, 640), 800, np.uint16), _rgb())
    source = _source(camera, "spatial", "temporal")
    for _ in range(3):  # the temporal filter keeps state between frames
        depth = source.read().depth_mm
        assert np.abs(depth.astype(int) - 800).max() <= 1
    source.close()


def test_unknown_filter_is_refused_with_the_known_names() -> None:
    with pytest.raises(CameraError, match="spatial, temporal, hole_filling"):
        RealSenseSource(filters=("median",))


def test_the_requested_profile_reaches_the_stream() -> None:
    camera = SoftwareCamera(depth=COLOR, color=COLOR)
    camera.show(np.full((480, 640), 500, np.uint16), _rgb())
    profile = StreamProfile(width=1280, height=720, fps=15, serial="123456")
    source = RealSenseSource(profile, connect=camera.connect)
    source.open()
    source.close()
    assert camera.profiles == [profile]


def test_a_stalled_camera_times_out_and_is_reopened() -> None:
    camera = SoftwareCamera(depth=WIDE, color=COLOR)
    camera.show(np.full((480, 640), 500, np.uint16), _rgb())
    source = _source(camera, timeout_s=0.2)
    source.read()

    camera.plugged = False  # frames stop, and the device is gone
    started = time.monotonic()
    with pytest.raises(CameraError, match=r"no frames from RealSense .* for 0\.2 s"):
        source.read()
    assert 0.15 < time.monotonic() - started < 2.0
    assert camera.streams[0].stopped  # released, to be opened afresh
    with pytest.raises(CameraError, match=r"cannot open RealSense .*No device connected"):
        source.read()

    camera.plugged = True
    assert (source.read().depth_mm == 500).all()
    assert len(camera.streams) == 2
    source.close()


def test_without_that_camera_the_pipeline_fails_to_open_with_a_clear_error() -> None:
    # The real rs.pipeline path: no camera with this serial is attached.
    source = RealSenseSource(StreamProfile(serial="000000000000"))
    with pytest.raises(CameraError, match="cannot open RealSense \\(serial 000000000000"):
        source.read()
