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


# sensor_msgs/Image encodings the stack reads and writes: name -> (dtype, channels). RGB
# images are HxWx3 uint8 in RGB order inside the stack; depth is 16UC1 (mm) or 32FC1 (m).
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    # Read only (the Azure Kinect driver's colour); the alpha channel is dropped.
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
}
# The RGB channels of each colour encoding other than rgb8, as a slice of its channels;
# these are copied out of the message buffer, while rgb8 frames, the common case, are read
# in place (decode_image).
RGB_CHANNELS = {"bgr8": slice(None, None, -1), "rgba8": slice(0, 3), "bgra8": slice(2, None, -1)}


def decode_image(
    data: bytes | bytearray | memoryview | np.ndarray,
    height: int,
    width: int,
    encoding: str,
    step: int,
    big_endian: bool = False,
) -> np.ndarray:
    """The array of a raw image buffer laid out as in sensor_msgs/Image.

    Returns HxW (one channel) or HxWx3 in RGB order (bgr8 is reordered, the alpha of
    rgba8 and bgra8 dropped). Where the buffer already is that array (rgb8 or one channel,
    rows without padding, the machine's byte order: what cameras send) it is a read-only
    view of ``data``, which saves copying every frame (0.1 ms for a 640x480 depth image);
    otherwise a new array. Raises InputError for an unknown encoding or a buffer whose size
    does not match height x step.
    """
    if encoding not in ENCODINGS:
        raise InputError(
            f"image encoding '{encoding}' is not supported; send one of {', '.join(ENCODINGS)}"
        )
    dtype, channels = ENCODINGS[encoding]
    row_bytes = width * channels * dtype.itemsize
    buffer = np.frombuffer(data, np.uint8)
    if height <= 0 or width <= 0 or step < row_bytes or buffer.size != height * step:
        raise InputError(
            f"{encoding} image of {width}x{height} with step {step} needs {height * step} bytes "
            f"and step >= {row_bytes}, got {buffer.size} bytes: the message is malformed"
        )
    stored = dtype.newbyteorder(">" if big_endian else "<")
    if step == row_bytes and stored == dtype and encoding not in RGB_CHANNELS:
        image = buffer.view(dtype).reshape(
            (height, width) if channels == 1 else (height, width, channels)
        )
        image.flags.writeable = False
        return image
    rows = buffer.reshape(height, step)[:, :row_bytes]
    image = rows.copy().view(stored)
    image = image.astype(dtype, copy=False).reshape(height, width, channels)
    if encoding in RGB_CHANNELS:
        image = image[..., RGB_CHANNELS[encoding]]
    return np.ascontiguousarray(image[..., 0] if channels == 1 else image)


def encode_image(image: np.ndarray, encoding: str) -> tuple[int, bytes]:
    """(step, little-endian bytes) of an HxW or HxWx3 array in ``encoding`` (rgb8: RGB order)."""
    writable = [name for name, (_, channels) in ENCODINGS.items() if channels != 4]
    if encoding not in writable:
        raise InputError(f"cannot encode '{encoding}'; use one of {', '.join(writable)}")
    dtype, channels = ENCODINGS[encoding]
    shape_ok = image.ndim == 2 if channels == 1 else image.ndim == 3 and image.shape[2] == channels
    if image.dtype != dtype or not shape_ok:
        raise InputError(
            f"{encoding} needs a {dtype} array with {channels} channel(s), got {image.dtype} "
            f"{image.shape}"
        )
    if encoding == "bgr8":
        image = image[..., RGB_CHANNELS["bgr8"]]
    image = np.ascontiguousarray(image, dtype.newbyteorder("<"))
    return image.shape[1] * channels * dtype.itemsize, image.tobytes()
