"""Grasp maps to ranked image grasps: angle decoding, width scale, angle bins, peaks."""

import math

import numpy as np
import pytest

from grasp_core.metadata import ModelMetadata
from grasp_core.postprocess import (
    PostprocessParams,
    angle_from_maps,
    angle_to_maps,
    decode_maps,
    detect_grasps,
    find_peaks,
    width_from_map,
    width_to_map,
)
from grasp_core.preprocess import InputError

SIZE = 96
BLOB_SIGMA = 4.0


def blob(u: float, v: float, amplitude: float, sigma: float = BLOB_SIGMA) -> np.ndarray:
    """A Gaussian quality bump centred on pixel (u, v) of a SIZE x SIZE map."""
    vv, uu = np.mgrid[0:SIZE, 0:SIZE]
    return amplitude * np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * sigma**2))


def uniform_maps(angle: float, width_map: float, bins: int = 1) -> tuple[np.ndarray, ...]:
    """cos 2θ, sin 2θ and width maps holding one grasp everywhere, written out by hand."""
    shape = (bins, SIZE, SIZE)
    return (
        np.full(shape, math.cos(2 * angle), dtype=np.float32),
        np.full(shape, math.sin(2 * angle), dtype=np.float32),
        np.full(shape, width_map, dtype=np.float32),
    )


def meta(bins: int = 1) -> ModelMetadata:
    return ModelMetadata("grconvnet", (SIZE, SIZE), angle_bins=bins, width_scale=150.0)


def smoothed_peak(amplitude: float, sigma_px: float = 2.0) -> float:
    """Height of a Gaussian blob of BLOB_SIGMA after a Gaussian blur of sigma_px."""
    return amplitude * BLOB_SIGMA**2 / (BLOB_SIGMA**2 + sigma_px**2)


@pytest.mark.parametrize("angle", [0.0, 0.4, -0.4, 1.2, -1.2, -math.pi / 2])
def test_a_peak_gives_a_grasp_there_with_its_angle_and_width(angle):
    quality = blob(30, 50, 0.9)[np.newaxis]
    grasps = detect_grasps(quality, *uniform_maps(angle, 0.4), meta())
    assert len(grasps) == 1
    grasp = grasps[0]
    assert (grasp.u, grasp.v) == (30.0, 50.0)
    assert grasp.angle == pytest.approx(angle, abs=1e-6)
    assert grasp.width == pytest.approx(0.4 * 150.0)
    assert grasp.jaw_length == pytest.approx(0.4 * 150.0 / 2)
    assert grasp.quality == pytest.approx(smoothed_peak(0.9), abs=5e-3)


def test_positive_and_negative_angles_stay_distinct():
    # +0.4 rad turns the closing axis from +u towards -v (up on screen), -0.4 towards +v.
    plus = angle_from_maps(np.cos(0.8), np.sin(0.8))
    minus = angle_from_maps(np.cos(-0.8), np.sin(-0.8))
    assert plus == pytest.approx(0.4)
    assert minus == pytest.approx(-0.4)


@pytest.mark.parametrize("angle", [0.3, -1.1, 1.5, -math.pi / 2])
def test_angle_and_angle_plus_pi_decode_the_same(angle):
    a = angle_from_maps(np.cos(2 * angle), np.sin(2 * angle))
    b = angle_from_maps(np.cos(2 * (angle + math.pi)), np.sin(2 * (angle + math.pi)))
    assert a == pytest.approx(b, abs=1e-9)


def test_vertical_closing_axis_wraps_to_minus_half_pi():
    assert angle_from_maps(-1.0, 0.0) == pytest.approx(-math.pi / 2)
    assert angle_from_maps(-1.0, -1e-12) == pytest.approx(-math.pi / 2)


def test_angle_encoding_matches_the_double_angle():
    cos2, sin2 = angle_to_maps(np.array([0.25, -0.5]))
    np.testing.assert_allclose(cos2, [math.cos(0.5), math.cos(-1.0)])
    np.testing.assert_allclose(sin2, [math.sin(0.5), math.sin(-1.0)])


def test_width_scale_and_its_inverse():
    metadata = ModelMetadata("grconvnet", (224, 224), width_scale=112.0)
    assert width_from_map(0.5, metadata) == pytest.approx(56.0)
    assert width_to_map(56.0, metadata) == pytest.approx(0.5)
    np.testing.assert_allclose(width_to_map(np.array([0.0, 112.0]), metadata), [0.0, 1.0])


def test_three_bins_use_the_bin_of_highest_quality():
    angles = (-1.0, 0.1, 1.0)
    widths = (0.2, 0.3, 0.4)
    quality = np.stack([blob(40, 40, 0.5), blob(40, 40, 0.8), blob(40, 40, 0.3)])
    quality[2] += blob(75, 20, 0.95)  # elsewhere the third bin wins
    cos2 = np.stack([np.full((SIZE, SIZE), math.cos(2 * a)) for a in angles])
    sin2 = np.stack([np.full((SIZE, SIZE), math.sin(2 * a)) for a in angles])
    width = np.stack([np.full((SIZE, SIZE), w) for w in widths])
    params = PostprocessParams(min_distance_px=10)

    decoded = decode_maps(quality, cos2, sin2, width, meta(3), params)
    assert decoded.bin_index[40, 40] == 1
    assert decoded.bin_index[20, 75] == 2
    assert decoded.quality[40, 40] == pytest.approx(smoothed_peak(0.8), abs=5e-3)

    grasps = detect_grasps(quality, cos2, sin2, width, meta(3), params)
    assert [(g.u, g.v) for g in grasps] == [(75.0, 20.0), (40.0, 40.0)]
    assert [g.angle for g in grasps] == pytest.approx([1.0, 0.1])
    assert [g.width for g in grasps] == pytest.approx([0.4 * 150, 0.3 * 150])


def test_the_best_bin_at_a_few_pixels_is_that_of_the_whole_map_ties_to_the_first():
    quality = np.stack([blob(40, 40, 0.5), blob(40, 40, 0.8), blob(75, 20, 0.95)])
    quality[1, :10] = quality[2, :10] = quality[0, :10] = 0.4  # rows where all bins tie
    decoded = decode_maps(quality, *uniform_maps(0.0, 0.3, bins=3), meta(3), PostprocessParams())
    vs, us = np.indices((SIZE, SIZE)).reshape(2, -1)
    np.testing.assert_array_equal(decoded.bins_at(vs, us), decoded.bin_index.ravel())
    assert set(np.unique(decoded.bin_index)) == {0, 1, 2}
    assert (decoded.bin_index[:4] == 0).all()  # rows of ties beyond the blur's 6 px reach


def test_peaks_closer_than_min_distance_give_one_grasp():
    quality = (blob(40, 40, 0.9, sigma=1.5) + blob(52, 40, 0.7, sigma=1.5))[np.newaxis]
    maps = uniform_maps(0.0, 0.3)
    near = detect_grasps(quality, *maps, meta(), PostprocessParams(min_distance_px=15))
    assert [(g.u, g.v) for g in near] == [(40.0, 40.0)]
    apart = detect_grasps(quality, *maps, meta(), PostprocessParams(min_distance_px=10))
    assert [(g.u, g.v) for g in apart] == [(40.0, 40.0), (52.0, 40.0)]


def test_a_plateau_gives_one_peak():
    quality = np.zeros((SIZE, SIZE), dtype=np.float32)
    quality[30:34, 60:64] = 1.0
    vs, us = find_peaks(quality, PostprocessParams(min_distance_px=5))
    assert len(vs) == 1
    assert 30 <= vs[0] < 34 and 60 <= us[0] < 64


def test_a_long_ridge_gives_peaks_min_distance_apart():
    quality = np.zeros((SIZE, SIZE), dtype=np.float32)
    quality[30, 10:40] = 1.0
    vs, us = find_peaks(quality, PostprocessParams(min_distance_px=8, max_grasps=10))
    assert len(vs) == 4  # 30 px of ridge, one peak per 8 px
    assert np.all(vs == 30)
    assert np.all(np.diff(np.sort(us)) >= 8)


def test_top_k_grasps_are_ranked_by_quality_and_thresholded():
    places = [(15, 15, 0.5), (80, 15, 0.9), (15, 80, 0.7), (80, 80, 0.3), (48, 48, 0.1)]
    quality = sum(blob(u, v, a) for u, v, a in places)[np.newaxis]
    maps = uniform_maps(0.2, 0.3)
    params = PostprocessParams(max_grasps=3, threshold=0.2)
    grasps = detect_grasps(quality, *maps, meta(), params)
    assert [(g.u, g.v) for g in grasps] == [(80.0, 15.0), (15.0, 80.0), (15.0, 15.0)]
    assert [g.quality for g in grasps] == pytest.approx(
        [smoothed_peak(a) for a in (0.9, 0.7, 0.5)], abs=5e-3
    )
    everything = detect_grasps(quality, *maps, meta(), PostprocessParams(max_grasps=10))
    # the 0.1 bump is below the 0.2 threshold
    assert len(everything) == 4


def test_fixed_jaw_length_and_clipped_quality_and_width():
    quality = blob(50, 50, 1.6)[np.newaxis]
    cos2, sin2, _ = uniform_maps(0.0, 0.0)
    width = np.full((1, SIZE, SIZE), -0.1, dtype=np.float32)
    params = PostprocessParams(jaw_length_px=12.0, quality_sigma_px=0.0)
    (grasp,) = detect_grasps(quality, cos2, sin2, width, meta(), params)
    assert grasp.jaw_length == 12.0
    assert grasp.quality == 1.0
    assert grasp.width == 0.0


def test_debug_maps_are_exposed_per_pixel():
    quality = blob(20, 70, 0.8)[np.newaxis]
    decoded = decode_maps(quality, *uniform_maps(-0.7, 0.25), meta(), PostprocessParams())
    assert decoded.quality.shape == decoded.angle.shape == decoded.width_px.shape == (SIZE, SIZE)
    np.testing.assert_allclose(decoded.angle, -0.7, atol=1e-6)
    np.testing.assert_allclose(decoded.width_px, 0.25 * 150.0, rtol=1e-6)
    assert np.unravel_index(decoded.quality.argmax(), decoded.quality.shape) == (70, 20)


def test_maps_that_do_not_match_the_metadata_are_refused():
    maps = uniform_maps(0.0, 0.3, bins=3)
    quality = np.zeros((3, SIZE, SIZE), dtype=np.float32)
    with pytest.raises(InputError, match=r"quality map has shape \(3, 96, 96\) .* \(1, 96, 96\)"):
        detect_grasps(quality, *maps, meta(1))
    with pytest.raises(InputError, match="drop the batch axis"):
        detect_grasps(quality[np.newaxis], *maps, meta(3))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="min_distance_px"):
        PostprocessParams(min_distance_px=0)
    with pytest.raises(ValueError, match="quality_sigma_px"):
        PostprocessParams(quality_sigma_px=-1.0)
