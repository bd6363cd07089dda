"""The depth-noise model of 002_a78fe279f064600a.txt (sec. III-B) for rendered depth.

Real depth cameras lose pixels where depth changes fast, measure with noise, and miss small
depth variations; the three steps below imitate each on a perfect rendered depth image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DepthNoise:
    """Parameters of the noise model.

    dropout_gradient: depth gradient (m per px) at and above which a pixel is always
    dropped; below it the dropout probability rises linearly from 0 (eq. 5's f(grad)).
    sigma_m: range (low, high) of the Gaussian noise's standard deviation, m, drawn per
    image. max_downsample: images are scaled down by a factor drawn from 1..max_downsample
    and back up, which removes detail finer than that many px.
    """

    dropout_gradient: float = 0.03
    sigma_m: tuple[float, float] = (0.0005, 0.0025)
    max_downsample: int = 3


def gradient_dropout(depth: np.ndarray, noise: DepthNoise, rng: np.random.Generator) -> np.ndarray:
    """Eq. 5: zero each pixel with probability f(|grad depth|), f linear onto [0, 1]."""
    gx = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3) / 8
    probability = np.clip(np.hypot(gx, gy) / noise.dropout_gradient, 0.0, 1.0)
    return np.where(rng.random(depth.shape) < probability, 0.0, depth).astype(np.float32)


def resample(depth: np.ndarray, factor: int) -> np.ndarray:
    """Scale down by ``factor`` and back up; a pixel near a hole becomes a hole."""
    if factor <= 1:
        return depth
    h, w = depth.shape
    small = cv2.resize(depth, (w // factor, h // factor), interpolation=cv2.INTER_NEAREST)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    valid = cv2.resize((small > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(valid > 0.999, up, 0.0).astype(np.float32)


def add_depth_noise(
    depth: np.ndarray, rng: np.random.Generator, noise: DepthNoise = DepthNoise()
) -> np.ndarray:
    """A camera-like copy of a perfect HxW depth image in m; 0 marks missing pixels."""
    dropped = gradient_dropout(depth, noise, rng)
    sigma = rng.uniform(*noise.sigma_m)
    noisy = np.where(dropped > 0, dropped + rng.normal(0.0, sigma, depth.shape), 0.0)
    return resample(noisy.astype(np.float32), int(rng.integers(1, noise.max_downsample + 1)))
