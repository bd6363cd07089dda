"""The depth-noise model of 002 on rendered depth."""

from __future__ import annotations

import numpy as np

from grasp_sim.noise import DepthNoise, add_depth_noise, gradient_dropout, resample


def _step_image() -> np.ndarray:
    depth = np.full((120, 160), 0.70, np.float32)
    depth[:, 80:] = 0.60  # a 10 cm step, like an object's edge
    return depth


def test_dropout_hits_steep_edges_and_spares_flat_surfaces() -> None:
    dropped = gradient_dropout(_step_image(), DepthNoise(), np.random.default_rng(0))
    holes = dropped == 0
    assert holes[:, 79:81].mean() > 0.9  # the two pixel columns either side of the step
    assert not holes[:, :70].any() and not holes[:, 90:].any()


def test_noise_has_the_drawn_standard_deviation_and_keeps_the_mean() -> None:
    flat = np.full((200, 200), 0.8, np.float32)
    noise = DepthNoise(sigma_m=(0.002, 0.002), max_downsample=1)
    noisy = add_depth_noise(flat, np.random.default_rng(1), noise)
    assert (noisy > 0).all()
    assert abs(noisy.mean() - 0.8) < 1e-3
    assert 0.0018 < noisy.std() < 0.0022


def test_resampling_removes_detail_and_grows_holes() -> None:
    depth = np.full((64, 64), 0.5, np.float32)
    depth[::2, ::2] = 0.6  # a one-pixel checker pattern a coarse sensor cannot resolve
    depth[30:34, 30:34] = 0.0
    out = resample(depth, 4)
    assert (out[:, :] == 0).sum() >= 16
    assert np.array_equal(resample(depth, 1), depth)
    assert np.unique(out[out > 0]).size < np.unique(depth[depth > 0]).size + 2


def test_same_generator_same_noise() -> None:
    a = add_depth_noise(_step_image(), np.random.default_rng(7))
    b = add_depth_noise(_step_image(), np.random.default_rng(7))
    c = add_depth_noise(_step_image(), np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
