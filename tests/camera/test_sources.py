"""Replay and simulated sources, the frame they deliver, and make_source's choices."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from grasp_camera.frame import CameraError, CameraFrame
from grasp_camera.realsense import RealSenseSource, StreamProfile
from grasp_camera.sources import (
    ReplaySource,
    SimScene,
    SimSource,
    SourceSettings,
    make_source,
)  # fmt: skip
from grasp_core.camera import D435_COLOR_640X480, CameraIntrinsics
from grasp_core.datasets.generated import write_info, write_sample
from grasp_core.datasets.sample import Sample

SMALL = CameraIntrinsics(fx=50.0, fy=51.0, cx=15.5, cy=11.5, width=32, height=24)
CAMERA_JSON = {"fx": 50.0, "fy": 51.0, "cx": 15.5, "cy": 11.5, "width": 32, "height": 24}


def _rgb(value: int, shape: tuple[int, int] = (24, 32)) -> np.ndarray:
    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = value, 255 - value
    return rgb


def _write_pair(root: Path, name: str, rgb: np.ndarray, depth: np.ndarray) -> None:
    cv2.imwrite(str(root / f"{name}_rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / f"{name}_depth.png"), depth)


def _folder(root: Path, count: int = 2, camera: dict | None = CAMERA_JSON) -> Path:
    root.mkdir(exist_ok=True)
    for k in range(count):
        _write_pair(root, f"f{k}", _rgb(10 * (k + 1)), np.full((24, 32), 400 + k, np.uint16))
    if camera is not None:
        (root / "camera.json").write_text(json.dumps(camera))
    return root


def test_replay_folder_plays_pairs_in_name_order_and_loops(tmp_path: Path) -> None:
    source = ReplaySource(_folder(tmp_path))
    before = time.time()
    frames = [source.read() for _ in range(3)]
    assert [int(f.depth_mm[0, 0]) for f in frames] == [400, 401, 400]
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [10, 20, 10]
    assert all(f.intrinsics == SMALL for f in frames)
    assert before <= frames[0].stamp_s <= frames[2].stamp_s <= time.time()


def test_a_replay_that_fits_its_cache_decodes_each_frame_once(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    cached, uncached = ReplaySource(root, cache_mb=1.0), ReplaySource(root)
    first = [cached.read(), cached.read(), uncached.read(), uncached.read()]
    for png in root.glob("*.png"):
        png.unlink()  # from now on only what is in memory can be played
    again = [cached.read() for _ in range(3)]
    assert [int(f.depth_mm[0, 0]) for f in again] == [400, 401, 400]
    assert again[0].rgb is first[0].rgb and not again[0].rgb.flags.writeable
    assert again[2].stamp_s > first[0].stamp_s  # stamped when read, as ever
    with pytest.raises(CameraError, match=r"f0_rgb\.png"):
        uncached.read()


def test_a_replay_larger_than_its_cache_decodes_on_every_read(tmp_path: Path) -> None:
    root = _folder(tmp_path)  # two frames of 3840 bytes each, decoded
    source = ReplaySource(root, cache_mb=3000 / 2**20)
    source.read()
    (root / "f0_rgb.png").unlink()
    source.read()
    with pytest.raises(CameraError, match=r"f0_rgb\.png"):
        source.read()


def test_replay_depth_unit_from_camera_json_and_float_depth_in_m(tmp_path: Path) -> None:
    root = _folder(tmp_path, count=1, camera={**CAMERA_JSON, "depth_unit_m": 0.0001})
    assert int(ReplaySource(root).read().depth_mm[0, 0]) == 40  # 400 units of 0.1 mm
    (root / "f0_depth.png").unlink()
    np.save(root / "f0_depth.npy", np.full((24, 32), 0.25, np.float32))
    assert int(ReplaySource(root).read().depth_mm[0, 0]) == 250


def test_replay_reads_a_ros_calibration_yaml(tmp_path: Path) -> None:
    root = _folder(tmp_path, count=1, camera=None)
    (root / "camera.yaml").write_text(
        "image_width: 32\nimage_height: 24\ncamera_name: test\n"
        "camera_matrix:\n  rows: 3\n  cols: 3\n  data: [50.0, 0, 15.5, 0, 51.0, 11.5, 0, 0, 1]\n"
    )
    assert ReplaySource(root).read().intrinsics == SMALL


def test_replay_reads_a_generated_dataset(tmp_path: Path) -> None:
    write_info(tmp_path, {"intrinsics": CAMERA_JSON})
    for k in range(2):
        depth = np.full((24, 32), 0.5 + 0.1 * k, np.float32)
        sample = Sample(name=f"{k:06d}", rgb=_rgb(k + 1), depth=depth, grasps=())
        write_sample(tmp_path, sample, {})
    source = ReplaySource(tmp_path)
    frames = [source.read() for _ in range(3)]
    assert [int(f.depth_mm[5, 5]) for f in frames] == [500, 600, 500]
    assert frames[1].intrinsics == SMALL


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "absent", "does not exist"),
        (lambda root: _folder(root, camera=None), "has no intrinsics: add camera.json"),
        (lambda root: _folder(root, camera={"fx": 50.0}), r"lacks intrinsics \['fy'"),
        (lambda root: _folder(root, count=0), "holds no frames"),
    ],
    ids=["missing folder", "no intrinsics", "incomplete intrinsics", "empty folder"],
)
def test_replay_folder_problems_are_named(tmp_path: Path, setup, message: str) -> None:
    with pytest.raises(CameraError, match=message):
        ReplaySource(setup(tmp_path)).read()


def test_replay_colour_without_depth_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "f1_depth.png").unlink()
    with pytest.raises(CameraError, match=r"f1_rgb\.png has no depth image f1_depth"):
        ReplaySource(root).open()


def test_replay_mismatched_sizes_are_named_and_the_next_frame_still_plays(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _write_pair(root, "f0", _rgb(10), np.full((12, 16), 400, np.uint16))
    source = ReplaySource(root)
    with pytest.raises(CameraError, match=r"f0_rgb\.png is 32x24 but f0_depth\.png is 16x12"):
        source.read()
    assert int(source.read().depth_mm[0, 0]) == 401


def test_replay_images_that_disagree_with_the_intrinsics_are_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path, camera={**CAMERA_JSON, "width": 640, "height": 480})
    with pytest.raises(CameraError, match="expected uint8 \\(480, 640, 3\\)"):
        ReplaySource(root).read()


def test_generated_dataset_without_intrinsics_is_refused(tmp_path: Path) -> None:
    write_info(tmp_path, {})
    with pytest.raises(CameraError, match="has no 'intrinsics'"):
        ReplaySource(tmp_path).read()


def test_frame_refuses_depth_not_aligned_to_colour() -> None:
    with pytest.raises(CameraError, match="aligned to the colour image"):
        CameraFrame(_rgb(1), np.zeros((12, 16), np.uint16), SMALL, 0.0)


def test_sim_table_is_seen_from_the_configured_pose() -> None:
    # Straight down from 0.6 m: the table top (z = 0) is 600 mm away wherever no object is.
    scene = SimScene(seed=3, objects=2, eye=(0.0, 0.0, 0.6), depth_noise=False)
    source = SimSource(scene)
    frame = source.read()
    again = source.read()
    source.close()
    assert frame.intrinsics == D435_COLOR_640X480
    assert frame.rgb.shape == (480, 640, 3) and frame.depth_mm.dtype == np.uint16
    assert np.median(frame.depth_mm) == pytest.approx(600, abs=2)
    assert 400 < frame.depth_mm[frame.depth_mm > 0].min() < 600  # objects stand on it
    np.testing.assert_array_equal(frame.rgb, again.rgb)  # a settled table stays still
    assert again.stamp_s > frame.stamp_s


def test_sim_seed_chooses_the_table_and_noise_drops_pixels() -> None:
    frames = {}
    for seed in (0, 1):
        source = SimSource(SimScene(seed=seed, objects=3))
        frames[seed] = source.read()
        source.close()
    assert not np.array_equal(frames[0].rgb, frames[1].rgb)
    assert (frames[0].depth_mm == 0).any()  # the camera noise model loses edge pixels


def test_sim_unknown_object_set_is_a_camera_error() -> None:
    with pytest.raises(CameraError, match="object set 'kitchen'"):
        SimSource(SimScene(object_set="kitchen")).open()


def test_make_source_builds_each_source_from_its_settings(tmp_path: Path) -> None:
    replay = make_source(SourceSettings(source="replay", replay_path=str(tmp_path)))
    assert isinstance(replay, ReplaySource) and replay.path == tmp_path
    sim = make_source(SourceSettings(seed=7, objects=4, camera_eye=(0.1, 0.2, 0.5)))
    assert sim.scene == SimScene(seed=7, objects=4, eye=(0.1, 0.2, 0.5))
    settings = SourceSettings(
        source="realsense", width=848, height=480, fps=15, serial="0815",
        filters="spatial, hole_filling", timeout_s=2.0,
    )  # fmt: skip
    realsense = make_source(settings)
    assert isinstance(realsense, RealSenseSource)
    assert realsense.profile == StreamProfile(848, 480, 15, "0815")
    assert realsense.filters == ("spatial", "hole_filling") and realsense.timeout_s == 2.0


def test_make_source_refuses_unknown_sources_and_short_poses() -> None:
    with pytest.raises(CameraError, match="source 'kinect' is not one of sim, realsense, replay"):
        make_source(SourceSettings(source="kinect"))
    with pytest.raises(CameraError, match="need 3 values"):
        make_source(SourceSettings(camera_eye=(0.0, 0.5)))
    with pytest.raises(CameraError, match="needs replay_path"):
        make_source(SourceSettings(source="replay"))
