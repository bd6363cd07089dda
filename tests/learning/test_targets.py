"""Ground-truth grasp maps (004's strong Gaussian map, angle bins, smallest width) and the loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata
from grasp_learning.targets import angle_bin, grasp_maps, positional_loss

SIZE = (48, 64)


def _meta(bins: int = 1) -> ModelMetadata:
    return ModelMetadata("grconvnet", SIZE, angle_bins=bins, width_scale=100.0)


def test_strong_gaussian_peaks_at_the_centre_inside_the_centre_third() -> None:
    g = ImageGrasp(u=32, v=20, angle=0.0, width=30, jaw_length=10)
    maps = grasp_maps([g], SIZE, _meta(), sigma_px=2.0)
    q = maps.quality[0]
    assert q[20, 32] == pytest.approx(1.0)
    assert q[20, 36] == pytest.approx(math.exp(-16 / 8))  # 4 px from the centre
    assert q[22, 32] == pytest.approx(math.exp(-4 / 8))  # along the jaw, still inside
    assert q[20, 39] == 0  # 7 px along the opening: outside the middle third (+-5 px)
    assert q[27, 32] == 0  # beyond the jaw (+-5 px)
    assert maps.cos2theta[0, 20, 32] == pytest.approx(1.0)
    assert maps.sin2theta[0, 20, 32] == pytest.approx(0.0, abs=1e-7)
    assert maps.width[0, 20, 32] == pytest.approx(0.30)
    assert maps.width[0, 0, 0] == 0 and maps.cos2theta[0, 0, 0] == 0


def test_each_grasp_goes_to_the_bin_of_its_angle() -> None:
    assert [angle_bin(math.radians(a), 3) for a in (-90, -31, -29, 29, 31, 89.9)] == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip
    g = ImageGrasp(u=30, v=24, angle=math.radians(60), width=24, jaw_length=12)
    maps = grasp_maps([g], SIZE, _meta(bins=3))
    assert maps.quality[2, 24, 30] == pytest.approx(1.0)
    assert maps.quality[:2].max() == 0
    assert maps.cos2theta[2, 24, 30] == pytest.approx(math.cos(math.radians(120)), abs=1e-6)
    assert maps.sin2theta[2, 24, 30] == pytest.approx(math.sin(math.radians(120)), abs=1e-6)


def test_overlapping_grasps_keep_the_smallest_width_and_the_highest_quality() -> None:
    wide = ImageGrasp(u=30, v=24, angle=0.1, width=45, jaw_length=10)
    narrow = ImageGrasp(u=31, v=24, angle=-0.1, width=21, jaw_length=10)
    for order in ([wide, narrow], [narrow, wide]):
        maps = grasp_maps(order, SIZE, _meta())
        assert maps.width[0, 24, 30] == pytest.approx(0.21)
        assert maps.cos2theta[0, 24, 30] == pytest.approx(math.cos(-0.2), abs=1e-6)
        # Quality is the best of both: 1 at each centre.
        assert maps.quality[0, 24, 30] == pytest.approx(1.0)
        assert maps.quality[0, 24, 31] == pytest.approx(1.0)


def test_stacked_order_matches_the_network_outputs() -> None:
    maps = grasp_maps([ImageGrasp(20, 20, 0.3, 20, 8)], SIZE, _meta(bins=3))
    stacked = maps.stacked()
    assert stacked.shape == (4, 3, *SIZE)
    np.testing.assert_array_equal(stacked[3], maps.width)


def test_positional_loss_weights_angle_and_width_by_quality() -> None:
    maps = grasp_maps([ImageGrasp(32, 24, 0.0, 30, 12)], SIZE, _meta(bins=3))
    target = torch.from_numpy(maps.stacked())[None]
    exact = [target[:, i].clone() for i in range(4)]
    loss, parts = positional_loss(exact, target, smooth_l1=False)
    assert loss.item() == pytest.approx(0.0)

    # A wrong angle where no grasp is (Q_hat = 0) costs nothing ...
    wrong_far = [t.clone() for t in exact]
    wrong_far[1][..., 0, 0] = -1.0
    assert positional_loss(wrong_far, target, smooth_l1=False)[0].item() == pytest.approx(0.0)
    # ... and at a grasp centre it does.
    wrong_near = [t.clone() for t in exact]
    wrong_near[1][:, 1, 24, 32] = -1.0  # bin 1 holds angle 0
    assert positional_loss(wrong_near, target, smooth_l1=False)[1]["cos"] > 0

    # The quality term counts N (= 3) times.
    off = [t.clone() for t in exact]
    off[0] = off[0] + 0.1
    loss, parts = positional_loss(off, target, smooth_l1=False)
    assert parts["quality"] == pytest.approx(0.01, rel=1e-4)
    assert loss.item() == pytest.approx(3 * 0.01, rel=1e-4)


def test_positive_weight_counts_quality_errors_on_grasp_pixels_more() -> None:
    maps = grasp_maps([ImageGrasp(32, 24, 0.0, 30, 12)], SIZE, _meta(bins=1))
    target = torch.from_numpy(maps.stacked())[None]
    exact = [target[:, i].clone() for i in range(4)]
    miss_centre = [t.clone() for t in exact]
    miss_centre[0][0, 0, 24, 32] -= 0.5  # Q_hat = 1 at the grasp centre
    miss_empty = [t.clone() for t in exact]
    miss_empty[0][0, 0, 5, 5] += 0.5  # Q_hat = 0 on empty table
    pixels = SIZE[0] * SIZE[1]
    for weight in (0.0, 10.0):
        at_centre = positional_loss(miss_centre, target, False, weight)[1]["quality"]
        on_empty = positional_loss(miss_empty, target, False, weight)[1]["quality"]
        assert on_empty == pytest.approx(0.25 / pixels, rel=1e-4)
        assert at_centre == pytest.approx((1 + weight) * 0.25 / pixels, rel=1e-4)
