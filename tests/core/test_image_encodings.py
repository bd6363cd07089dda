"""sensor_msgs/Image buffers <-> arrays (grasp_core.images.decode_image / encode_image)."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_core.images import decode_image, encode_image
from grasp_core.preprocess import InputError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("encoding", "image"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB),
        ("mono8", RGB[..., 0].copy()),
        ("16UC1", RNG.integers(0, 65535, (5, 7), dtype=np.uint16)),
        ("32FC1", RNG.uniform(0.2, 2.0, (5, 7)).astype(np.float32)),
    ],
)
def test_encoded_images_decode_to_the_same_array(encoding: str, image: np.ndarray) -> None:
    step, data = encode_image(image, encoding)
    assert step == image.shape[1] * image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
    assert np.array_equal(decode_image(data, 5, 7, encoding, step), image)


def test_bgr8_bytes_are_stored_blue_first() -> None:
    _, data = encode_image(RGB, "bgr8")
    assert data[:3] == bytes(RGB[0, 0, ::-1])


def test_padded_rows_big_endian_and_alpha_are_read() -> None:
    depth = np.array([[1, 258], [513, 65535]], np.uint16)
    padded = np.zeros((2, 6), np.uint8)  # 4 bytes of pixels + 2 bytes of padding per row
    padded[:, :4] = depth.astype(">u2").view(np.uint8).reshape(2, 4)
    assert np.array_equal(decode_image(padded.tobytes(), 2, 2, "16UC1", 6, True), depth)
    bgra = np.dstack([RGB[..., ::-1], np.full((5, 7), 9, np.uint8)])
    assert np.array_equal(decode_image(bgra.tobytes(), 5, 7, "bgra8", 28), RGB)
    rgba = np.dstack([RGB, np.full((5, 7), 9, np.uint8)])
    assert np.array_equal(decode_image(rgba.tobytes(), 5, 7, "rgba8", 28), RGB)


def test_bad_buffers_and_requests_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="'yuv422' is not supported"):
        decode_image(b"\0" * 70, 5, 7, "yuv422", 14)
    with pytest.raises(InputError, match="needs 70 bytes"):
        decode_image(b"\0" * 69, 5, 7, "16UC1", 14)
    with pytest.raises(InputError, match="step >= 14"):
        decode_image(b"\0" * 50, 5, 7, "16UC1", 10)
    with pytest.raises(InputError, match="cannot encode 'bgra8'"):
        encode_image(np.zeros((5, 7, 4), np.uint8), "bgra8")
    with pytest.raises(InputError, match="rgb8 needs a uint8 array with 3 channel"):
        encode_image(RGB.astype(np.float32), "rgb8")


def test_unpadded_images_are_read_only_views_of_the_message_buffer() -> None:
    depth = RNG.integers(0, 65535, (5, 7), dtype=np.uint16)
    step, data = encode_image(depth, "16UC1")
    buffer = bytearray(data)
    decoded = decode_image(buffer, 5, 7, "16UC1", step)
    assert np.shares_memory(decoded, np.frombuffer(buffer, np.uint8))
    with pytest.raises(ValueError, match="read-only"):
        decoded[0, 0] = 1
    # Reordered channels are a new array, the caller's to change.
    bgr = decode_image(encode_image(RGB, "bgr8")[1], 5, 7, "bgr8", 21)
    bgr[0, 0] = 0
    assert bgr.flags.writeable
