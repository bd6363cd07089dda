"""The `grasp` command on image files: detect end to end, and its errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from constant_model import PEAK_U, PEAK_V, constant_model, frame, grconvnet_metadata, to_image

from grasp_core.cli import main


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rgb, depth = frame()  # 640x480, depth 0.7 m as uint16 mm
    paths = {
        "model": constant_model(tmp_path / "model.onnx", grconvnet_metadata()),
        "rgb": tmp_path / "rgb.png",
        "depth": tmp_path / "depth.png",
        "out": tmp_path / "out",
    }
    cv2.imwrite(str(paths["rgb"]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["depth"]), depth)
    return paths


def _args(files: dict[str, Path], **changes: Path) -> list[str]:
    f = {**files, **changes}
    return ["detect", "--model", str(f["model"]), "--rgb", str(f["rgb"]),
            "--depth", str(f["depth"]), "--out", str(f["out"])]  # fmt: skip


def test_detect_writes_grasps_in_image_px_and_an_annotated_image(files) -> None:
    assert main(_args(files)) == 0
    report = json.loads((files["out"] / "grasps.json").read_text())
    best = report["grasps"][0]
    # The 640x480 frame's central 480x480 px are the network input: 80 px crop offset in u.
    assert best["u"] == pytest.approx(to_image(PEAK_U, 80), abs=1e-3)
    assert best["v"] == pytest.approx(to_image(PEAK_V, 0), abs=1e-3)
    assert report["image_size"] == [480, 640]
    assert "CPUExecutionProvider" in report["providers"]
    image = cv2.imread(str(files["out"] / "grasps.png"))
    assert image.shape == (480, 640, 3)
    # Something was drawn at the grasp centre over the flat grey frame.
    assert not np.array_equal(image[round(best["v"]), round(best["u"])], [128, 128, 128])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": Path("missing.onnx")}, "does not exist"),
        ({"rgb": Path("nowhere.png")}, "cannot read an RGB image"),
    ],
)
def test_unreadable_files_exit_2_with_one_line(files, capsys, change, message) -> None:
    assert main(_args(files, **change)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_model_exits_2(files, capsys) -> None:
    files["model"].write_bytes(np.random.default_rng(0).bytes(2048))
    assert main(_args(files)) == 2
    assert "grasp detect:" in capsys.readouterr().err


def test_rgb_and_depth_of_different_sizes_exit_2(files, capsys) -> None:
    small = files["depth"].with_name("small.png")
    cv2.imwrite(str(small), np.full((240, 320), 700, np.uint16))
    assert main(_args(files, depth=small)) == 2
    assert "240" in capsys.readouterr().err


def test_all_missing_depth_exits_2(files, capsys) -> None:
    empty = files["depth"].with_name("empty.png")
    cv2.imwrite(str(empty), np.zeros((480, 640), np.uint16))
    assert main(_args(files, depth=empty)) == 2
    assert "depth" in capsys.readouterr().err


def test_console_script_is_installed(files) -> None:
    done = subprocess.run(["grasp", *_args(files)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (files["out"] / "grasps.json").is_file()
