"""Reading RGB and depth image files into the arrays grasp_core takes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from grasp_core.preprocess import InputError


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as HxWx3 uint8 in RGB order (files store BGR for OpenCV)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read an RGB image from {path}: check the path and format")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth(path: str | Path) -> np.ndarray:
    """A depth image as stored: uint16 sensor units (PNG/TIFF) or float m (TIFF, EXR, .npy).

    The values are returned unscaled; grasp_core.preprocess.depth_to_metres applies the
    depth scale of uint16 files.
    """
    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise InputError(f"cannot read a depth image from {path}: no such file")
        depth = np.load(path)
    else:
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise InputError(f"cannot read a depth image from {path}: check the path and format")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise InputError(
            f"{path} holds a {depth.shape} image; depth must be single-channel "
            "(16-bit PNG/TIFF in sensor units, or float TIFF/.npy in m)"
        )
    return depth
