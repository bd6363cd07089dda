"""Rigid transforms between the stack's frames, and the camera's hand-eye calibration.

A transform is a 4x4 homogeneous matrix ``T_a_b`` that maps points from frame b into frame
a (p_a = T_a_b @ p_b); translations in m. Quaternions are (x, y, z, w), as in
geometry_msgs and the per-arm YAML (``camera: {xyz: [...], quat_xyzw: [...]}``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

_UNIT_QUAT_TOL = 1e-3  # |q| may be off by this much (rounded YAML digits); normalised after
# scipy >= 1.16 projects every matrix onto the nearest rotation unless told that they are
# rotations already (7x the time for a frame's few grasps: 90 against 13 us); older
# releases, such as Ubuntu's for ROS Jazzy, take no such argument and are fast anyway.
_ASSUME_VALID = (
    {"assume_valid": True}
    if "assume_valid" in inspect.signature(Rotation.from_matrix).parameters
    else {}
)


def transform_from_xyz_quat(xyz: Sequence[float], quat_xyzw: Sequence[float]) -> np.ndarray:
    """4x4 transform of a translation (m) and a unit quaternion (x, y, z, w).

    Raises ValueError for a wrong length, a non-finite value or a quaternion whose norm is
    not 1 (a typo in a calibration must not pass silently as some other rotation).
    """
    t = np.asarray(xyz, np.float64)
    q = np.asarray(quat_xyzw, np.float64)
    if t.shape != (3,) or q.shape != (4,) or not (np.isfinite(t).all() and np.isfinite(q).all()):
        raise ValueError(
            f"a transform needs xyz [x, y, z] in m and quat_xyzw [x, y, z, w], got "
            f"xyz={list(t.ravel())} quat_xyzw={list(q.ravel())}"
        )
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > _UNIT_QUAT_TOL:
        raise ValueError(
            f"quat_xyzw {q.tolist()} has norm {norm:.4f}; it must be a unit quaternion"
        )
    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat(q / norm).as_matrix()
    out[:3, 3] = t
    return out


def transform_from_dict(pose: Mapping[str, Sequence[float]]) -> np.ndarray:
    """4x4 transform of a mapping ``{xyz: [...], quat_xyzw: [...]}`` (m, unit quaternion)."""
    missing = {"xyz", "quat_xyzw"} - set(pose)
    if missing:
        raise ValueError(f"a pose needs the keys xyz and quat_xyzw; missing {sorted(missing)}")
    return transform_from_xyz_quat(pose["xyz"], pose["quat_xyzw"])


def xyz_quat(transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(translation (3,) m, unit quaternion (4,) x y z w) of a 4x4 transform."""
    return transform[:3, 3].copy(), Rotation.from_matrix(transform[:3, :3]).as_quat()


def quaternions(rotations: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (x, y, z, w) of (N, 3, 3) rotation matrices that are
    orthonormal up to rounding, as the grasp poses built from rotations and unit vectors are
    (a matrix that is not gives a wrong quaternion: use Rotation.from_matrix for those)."""
    return Rotation.from_matrix(rotations, **_ASSUME_VALID).as_quat()


def invert(transform: np.ndarray) -> np.ndarray:
    """The inverse of a rigid 4x4 transform (T_b_a of T_a_b)."""
    out = np.eye(4)
    out[:3, :3] = transform[:3, :3].T
    out[:3, 3] = -transform[:3, :3].T @ transform[:3, 3]
    return out


def load_camera_calibration(path: str | Path) -> np.ndarray:
    """T_base_optical (4x4): the camera optical frame in the robot base frame, m.

    ``path`` is a per-arm YAML (its ``camera`` key) or a calibration YAML holding either a
    ``camera`` key or ``xyz`` / ``quat_xyzw`` at the top level. Raises ValueError naming the
    file when neither is there.
    """
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a YAML mapping with a camera pose")
    pose = data.get("camera", data)
    if not isinstance(pose, Mapping) or not {"xyz", "quat_xyzw"} <= set(pose):
        raise ValueError(
            f"{path}: no camera calibration; expected camera: {{xyz: [x, y, z], "
            "quat_xyzw: [x, y, z, w]}} (the optical frame in the base frame)"
        )
    try:
        return transform_from_dict(pose)
    except ValueError as err:
        raise ValueError(f"{path}: camera: {err}") from None
