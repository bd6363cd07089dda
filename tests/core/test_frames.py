"""Rigid transforms and the camera calibration of the per-arm YAML.

Expected rotations are written out by hand (quarter and half turns), not computed with the
quaternion code under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from grasp_core.frames import (
    invert,
    load_camera_calibration,
    quaternions,
    transform_from_dict,
    transform_from_xyz_quat,
    xyz_quat,
)

H = math.sqrt(0.5)


def test_quarter_turn_about_z() -> None:
    t = transform_from_xyz_quat([1.0, 2.0, 3.0], [0.0, 0.0, H, H])
    np.testing.assert_allclose(t[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(t[:3, 3], [1, 2, 3])
    np.testing.assert_array_equal(t[3], [0, 0, 0, 1])
    # A point on the x axis goes to the y axis, then is shifted.
    np.testing.assert_allclose(t @ [1.0, 0, 0, 1], [1, 3, 3, 1], atol=1e-12)


def test_half_turn_about_x_is_a_camera_looking_down() -> None:
    # quat (1, 0, 0, 0): optical x = base x, optical y = base -y, optical z = base -z.
    t = transform_from_dict({"xyz": [0.5, 0.0, 0.8], "quat_xyzw": [1.0, 0.0, 0.0, 0.0]})
    np.testing.assert_allclose(t[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    # A point 0.8 m in front of the camera lies on the table plane z = 0.
    np.testing.assert_allclose(t @ [0, 0, 0.8, 1], [0.5, 0, 0, 1], atol=1e-12)


def test_slightly_unnormalised_quaternion_is_normalised() -> None:
    t = transform_from_xyz_quat([0, 0, 0], [0.0, 0.0, 0.7071, 0.7071])
    np.testing.assert_allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-12)


@pytest.mark.parametrize(
    ("xyz", "quat", "match"),
    [
        ([0, 0, 0], [0, 0, 0, 2.0], "unit quaternion"),
        ([0, 0, 0], [0, 0, 0, 0], "unit quaternion"),
        ([0, 0], [0, 0, 0, 1], "xyz"),
        ([0, 0, 0], [0, 0, 1], "quat_xyzw"),
        ([0, math.nan, 0], [0, 0, 0, 1], "xyz"),
    ],
)
def test_bad_transforms_are_refused(xyz: list, quat: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        transform_from_xyz_quat(xyz, quat)


def test_dict_without_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="quat_xyzw"):
        transform_from_dict({"xyz": [0, 0, 0]})


def test_invert_and_xyz_quat_round_trip() -> None:
    t = transform_from_xyz_quat([0.3, -0.2, 1.1], [0.1, -0.3, 0.2, 0.927])
    np.testing.assert_allclose(invert(t) @ t, np.eye(4), atol=1e-12)
    xyz, quat = xyz_quat(t)
    again = transform_from_xyz_quat(xyz, quat)
    np.testing.assert_allclose(again, t, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(quat), 1.0)


def test_quaternions_of_hand_written_turns() -> None:
    quarter_z = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    half_x = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
    quats = quaternions(np.array([np.eye(3), quarter_z, half_x]))
    # q and -q are the same rotation: compare up to sign.
    expected = np.array([[0, 0, 0, 1], [0, 0, H, H], [1, 0, 0, 0]])
    for q, e in zip(quats, expected, strict=True):
        assert min(np.abs(q - e).max(), np.abs(q + e).max()) < 1e-12


ARM_YAML = """\
arm: ur5
base_link: base_link
workspace: {lower: [0.2, -0.4, -0.02], upper: [0.8, 0.4, 0.5]}
camera: {xyz: [0.5, 0.0, 0.8], quat_xyzw: [1.0, 0.0, 0.0, 0.0]}
"""


def test_calibration_from_the_arm_yaml(tmp_path: Path) -> None:
    path = tmp_path / "ur5.yaml"
    path.write_text(ARM_YAML)
    t = load_camera_calibration(path)
    np.testing.assert_allclose(t[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(t[:3, 3], [0.5, 0.0, 0.8])


def test_calibration_file_with_the_pose_at_top_level(tmp_path: Path) -> None:
    path = tmp_path / "hand_eye.yaml"
    path.write_text("xyz: [0.1, 0.2, 0.3]\nquat_xyzw: [0.0, 0.0, 0.7071068, 0.7071068]\n")
    t = load_camera_calibration(path)
    np.testing.assert_allclose(t[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(t[:3, 3], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("arm: ur5\n", "no camera calibration"),
        ("- 1\n- 2\n", "mapping"),
        ("camera: {xyz: [0, 0, 0], quat_xyzw: [0, 0, 0, 3]}\n", "camera: .*unit quaternion"),
    ],
)
def test_bad_calibration_files_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_camera_calibration(path)
    assert "bad.yaml" in str(err.value)
