"""Input preparation: depth units, hole filling, crop/resize geometry, normalisation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata, Normalization
from grasp_core.preprocess import (
    CropResize,
    InputError,
    centre_crop,
    depth_to_metres,
    inpaint_depth,
    make_input,
    normalize_depth,
    normalize_rgb,
)

H, W = 480, 640


def camera_frame(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 RGB image and a uint16 mm depth image of a tilted table with holes."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    vv, uu = np.mgrid[0:H, 0:W]
    depth = (600 + uu // 8 + vv // 10).astype(np.uint16)
    depth[rng.random((H, W)) < 0.05] = 0
    depth[:, :24] = 0
    return rgb, depth


# --- depth units --------------------------------------------------------------------------


def test_uint16_millimetres_become_metres_and_zero_missing():
    depth = np.array([[1000, 0], [2500, 65535]], dtype=np.uint16)
    metres = depth_to_metres(depth)
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres[[0, 1, 1], [0, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)
    assert np.isnan(metres[0, 1])


def test_uint16_with_a_sub_millimetre_scale():
    depth = np.array([[1000, 4321]], dtype=np.uint16)
    np.testing.assert_allclose(depth_to_metres(depth, 1e-4), [[0.1, 0.4321]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_metres_pass_through_and_bad_values_become_missing(dtype):
    depth = np.array([[0.75, np.nan, 0.0], [np.inf, -0.2, 1.5]], dtype=dtype)
    metres = depth_to_metres(depth)
    assert metres.dtype == np.float32
    assert metres[0, 0] == np.float32(0.75)
    assert metres[1, 2] == np.float32(1.5)
    assert np.isnan(metres[[0, 0, 1, 1], [1, 2, 0, 1]]).all()
    assert np.isnan(depth[0, 1])  # the input is left as it was
    assert depth[1, 1] == dtype(-0.2)


def test_depth_of_another_dtype_is_refused():
    with pytest.raises(InputError, match=r"dtype int32 .* uint16"):
        depth_to_metres(np.ones((4, 4), dtype=np.int32))


def test_non_positive_depth_scale_is_refused():
    with pytest.raises(InputError, match="depth_scale_m"):
        depth_to_metres(np.ones((4, 4), dtype=np.uint16), 0.0)


# --- inpainting ---------------------------------------------------------------------------


def test_inpainting_keeps_measured_pixels_bit_exact_and_fills_holes_from_neighbours():
    vv, uu = np.mgrid[0:120, 0:160]
    depth = (0.5 + 0.002 * uu + 0.001 * vv).astype(np.float32)
    depth[40:60, 30:80] = 0.42  # a box on the ramp
    holes = np.zeros(depth.shape, dtype=bool)
    holes[50:55, 60:70] = True  # across the box
    holes[100:110, 120:135] = True  # on the ramp
    holes[:, :4] = True  # a missing border strip
    holed = np.where(holes, np.nan, depth)
    holed[0, 100] = 0.0
    holes[0, 100] = True

    filled = inpaint_depth(holed)

    assert filled.dtype == np.float32
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~holes], depth[~holes])
    for rows, cols in ((slice(50, 55), slice(60, 70)), (slice(100, 110), slice(120, 135))):
        ring = (slice(rows.start - 6, rows.stop + 6), slice(cols.start - 6, cols.stop + 6))
        near = depth[ring][~holes[ring]]
        assert near.min() - 1e-6 <= filled[rows, cols].min()
        assert filled[rows, cols].max() <= near.max() + 1e-6
    # the ramp hole sits well inside smooth ground: the fill stays within 2 cm of it
    assert np.abs(filled[100:110, 120:135] - depth[100:110, 120:135]).max() < 0.02


def test_inpainting_is_independent_of_units():
    rng = np.random.default_rng(3)
    depth_m = rng.uniform(0.3, 2.0, size=(60, 80)).astype(np.float32)
    depth_m[rng.random(depth_m.shape) < 0.3] = np.nan
    in_m = inpaint_depth(depth_m)
    in_mm = inpaint_depth(depth_m * 1000.0)
    np.testing.assert_allclose(in_mm / 1000.0, in_m, rtol=1e-5)


def test_inpainting_without_holes_returns_an_equal_copy():
    depth = np.full((8, 8), 0.8, dtype=np.float32)
    filled = inpaint_depth(depth)
    assert filled is not depth
    np.testing.assert_array_equal(filled, depth)


@pytest.mark.parametrize("fill", [np.nan, 0.0, -1.0, np.inf])
def test_inpainting_all_missing_depth_raises(fill):
    with pytest.raises(InputError, match="no valid pixel"):
        inpaint_depth(np.full((20, 30), fill, dtype=np.float32))


# --- crop / resize geometry ----------------------------------------------------------------


def test_centre_crop_of_a_vga_frame_is_the_central_square():
    crop = centre_crop((480, 640), (224, 224))
    assert (crop.x0, crop.y0, crop.width, crop.height) == (80, 0, 480, 480)
    assert crop.output_size == (224, 224)
    assert crop.sx == pytest.approx(224 / 480)


def test_point_and_grasp_land_where_expected_in_the_crop():
    crop = CropResize(80, 0, 480, 480, (240, 240))  # half scale
    # pixel centres: image u = 281.5 is (281.5 - 80 + 0.5) / 2 - 0.5 = 100.5 in the input
    assert crop.to_input(281.5, 201.5) == pytest.approx((100.5, 100.5))
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[200:204, 280:284] = 255  # a 4x4 px square centred on (281.5, 201.5)
    small = crop.apply_rgb(image)[..., 0].astype(float)
    vv, uu = np.nonzero(small)
    weights = small[vv, uu]
    assert np.average(uu, weights=weights) == pytest.approx(100.5)
    assert np.average(vv, weights=weights) == pytest.approx(100.5)

    grasp = ImageGrasp(u=281.5, v=201.5, angle=0.6, width=40.0, jaw_length=20.0)
    in_input = crop.grasp_to_input(grasp)
    assert (in_input.u, in_input.v) == pytest.approx((100.5, 100.5))
    assert in_input.angle == pytest.approx(0.6)
    assert (in_input.width, in_input.jaw_length) == pytest.approx((20.0, 10.0))


def test_shrink_by_a_fractional_factor_averages_and_keeps_the_geometry():
    crop = centre_crop((H, W), (224, 224))  # 480 -> 224 px: a factor of 2.14
    checkerboard = np.zeros((H, W, 3), dtype=np.uint8)
    checkerboard[::2, ::2] = checkerboard[1::2, 1::2] = 255
    small = crop.apply_rgb(checkerboard).astype(float)
    # Anti-aliased: a 1 px pattern above the new Nyquist limit averages out to mid grey
    # (point sampling would give black and white).
    assert np.abs(small - 127.5).max() < 8.0
    square = np.zeros((H, W, 3), dtype=np.uint8)
    square[196:208, 276:288] = 255  # centred on image px (281.5, 201.5)
    small = crop.apply_rgb(square)[..., 0].astype(float)
    vv, uu = np.nonzero(small)
    expected = crop.to_input(281.5, 201.5)
    centroid = (np.average(uu, weights=small[vv, uu]), np.average(vv, weights=small[vv, uu]))
    assert centroid == pytest.approx(expected, abs=0.05)


def test_depth_resize_keeps_measured_values_and_missing_pixels():
    depth = np.zeros((4, 8), dtype=np.uint16)
    depth[:, 4:] = 900
    depth[0, 0] = 1
    crop = CropResize(0, 0, 8, 4, (2, 4))
    # nearest at pixel centres: output (0, 0) is input pixel (0.5 * 2, 0.5 * 2) -> (1, 1)
    np.testing.assert_array_equal(crop.apply_depth(depth), [[0, 0, 900, 900], [0, 0, 900, 900]])


@settings(max_examples=60, deadline=None)
@given(
    x0=st.integers(0, 200),
    y0=st.integers(0, 100),
    width=st.integers(1, 440),
    height=st.integers(1, 380),
    out_h=st.integers(8, 320),
    out_w=st.integers(8, 320),
    u=st.floats(-50, 700),
    v=st.floats(-50, 500),
    angle=st.floats(-1.5, 1.5),
    length=st.floats(1, 200),
)
def test_mapping_round_trips_to_a_micro_pixel(
    x0, y0, width, height, out_h, out_w, u, v, angle, length
):
    crop = CropResize(x0, y0, width, height, (out_h, out_w))
    back = crop.to_image(*crop.to_input(u, v))
    assert back == pytest.approx((u, v), abs=1e-6)
    grasp = ImageGrasp(u=u, v=v, angle=angle, width=length, jaw_length=length / 3)
    again = crop.grasp_to_image(crop.grasp_to_input(grasp))
    assert (again.u, again.v, again.width) == pytest.approx((u, v, length), abs=1e-6)
    turn = (again.angle - angle + math.pi / 2) % math.pi - math.pi / 2
    assert abs(turn) < 1e-9


@settings(max_examples=30, deadline=None)
@given(
    x0=st.integers(0, 160),
    side=st.integers(1, 480),
    out=st.integers(8, 320),
    angle=st.floats(-1.5, 1.5),
    length=st.floats(1, 200),
)
def test_grasp_round_trip_keeps_the_jaw_under_square_crops(x0, side, out, angle, length):
    # The crops of centre_crop() scale both axes alike.
    crop = CropResize(x0, 0, side, side, (out, out))
    grasp = ImageGrasp(u=300.0, v=200.0, angle=angle, width=length, jaw_length=length / 3)
    again = crop.grasp_to_image(crop.grasp_to_input(grasp))
    assert again.jaw_length == pytest.approx(length / 3, abs=1e-6)


def test_crop_box_outside_the_image_is_refused():
    rgb, depth = camera_frame()
    meta = ModelMetadata("grconvnet", (224, 224))
    with pytest.raises(InputError, match="leaves the 480x640 px image"):
        make_input(rgb, depth, meta, crop=CropResize(300, 0, 480, 480, (224, 224)))


# --- normalisation ------------------------------------------------------------------------


def test_depth_normalisation_centres_on_measured_pixels_and_clips():
    depth = np.array([[1.0, 2.0], [3.0, np.nan]], dtype=np.float32)
    np.testing.assert_allclose(normalize_depth(depth, Normalization()), [[-1, 0], [1, 0]])
    tight = normalize_depth(depth, Normalization(depth_clip_m=0.5))
    np.testing.assert_allclose(tight, [[-0.5, 0], [0.5, 0]])


def test_depth_normalisation_has_zero_mean_when_not_clipped():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.4, 1.2, size=(50, 60)).astype(np.float32)
    out = normalize_depth(depth, Normalization(depth_clip_m=1.0))
    assert abs(float(out.mean())) < 1e-6
    assert np.abs(out).max() <= 1.0


def test_rgb_normalisation_scales_and_centres_channel_first():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[...] = (0, 51, 102)  # 0, 0.2, 0.4 after /255; mean 0.2
    out = normalize_rgb(rgb, Normalization())
    assert out.shape == (3, 2, 2)
    np.testing.assert_allclose(out[:, 0, 0], [-0.2, 0.0, 0.2], atol=1e-6)
    raw = normalize_rgb(rgb, Normalization(rgb_centre=False))
    np.testing.assert_allclose(raw[:, 1, 1], [0.0, 0.2, 0.4], atol=1e-6)


# --- make_input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("modality", "channels"), [("rgbd", 4), ("depth", 1), ("rgb", 3)])
def test_make_input_shape_and_dtype_per_modality(modality, channels):
    rgb, depth = camera_frame()
    meta = ModelMetadata("grconvnet", (224, 224), modality=modality)
    tensor, crop = make_input(rgb, depth, meta)
    assert tensor.shape == (1, channels, 224, 224)
    assert tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    assert np.isfinite(tensor).all()
    assert (crop.x0, crop.width) == (80, 480)
    if modality != "rgb":
        assert abs(float(tensor[0, -1].mean())) < 1e-5  # the table, with no clipping


def test_make_input_channels_are_rgb_then_depth_and_reuse_out():
    rgb, depth = camera_frame()
    rgb[...] = (255, 0, 0)
    meta = ModelMetadata("grconvnet", (224, 224), normalization=Normalization(rgb_centre=False))
    out = np.full((1, 4, 224, 224), np.nan, dtype=np.float32)
    tensor, _ = make_input(rgb, depth, meta, out=out)
    assert tensor is out
    np.testing.assert_array_equal(out[0, 0], 1.0)
    np.testing.assert_array_equal(out[0, 1:3], 0.0)
    assert out[0, 3].std() > 0  # the depth ramp


def test_make_input_accepts_float_metres_like_millimetres():
    rgb, depth = camera_frame()
    meta = ModelMetadata("grconvnet", (224, 224))
    from_mm, _ = make_input(rgb, depth, meta)
    metres = np.where(depth == 0, np.nan, depth / 1000.0)
    from_m, _ = make_input(rgb, metres, meta)
    np.testing.assert_allclose(from_m, from_mm, atol=1e-5)


def _bad(**changes):
    rgb, depth = camera_frame()
    args = {"rgb": rgb, "depth": depth, "metadata": ModelMetadata("grconvnet", (224, 224))}
    args.update(changes)
    return args


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"rgb": np.zeros((H, W, 3), dtype=np.float32)},
            r"rgb has dtype float32 but must be uint8",
        ),
        ({"rgb": np.zeros((H, W), dtype=np.uint8)}, r"rgb has shape \(480, 640\) .* \(H, W, 3\)"),
        ({"rgb": [[0]]}, r"rgb must be a numpy array, got list"),
        ({"rgb": None}, r"modality 'rgbd' needs rgb"),
        ({"depth": np.zeros((H, W), dtype=np.int32)}, r"depth has dtype int32 but must be uint16"),
        ({"depth": np.zeros((H, W, 1), dtype=np.uint16)}, r"depth has shape \(480, 640, 1\)"),
        (
            {"depth": np.ones((H, W + 1), dtype=np.uint16)},
            r"depth has shape \(480, 641\) but rgb has \(480, 640, 3\): align depth",
        ),
        ({"depth": np.zeros((H, W), dtype=np.uint16)}, r"depth has no valid pixel"),
        ({"depth": np.full((H, W), np.nan, dtype=np.float32)}, r"depth has no valid pixel"),
        ({"depth": np.zeros((0, 0), dtype=np.uint16)}, r"depth is empty"),
        ({"out": np.zeros((1, 3, 224, 224), dtype=np.float32)}, r"out has shape \(1, 3, 224"),
        ({"out": np.zeros((1, 4, 224, 224), dtype=np.float64)}, r"dtype float64"),
        ({"crop": CropResize(0, 0, 480, 480, (300, 300))}, r"crop resizes to \(300, 300\)"),
        ({"depth_scale_m": -1.0}, r"depth_scale_m is -1.0 but must be > 0"),
    ],
)
def test_make_input_names_what_is_wrong(changes, message):
    with pytest.raises(InputError, match=message):
        make_input(**_bad(**changes))


def test_depth_only_model_needs_no_rgb_and_rgb_model_needs_no_depth():
    rgb, depth = camera_frame()
    depth_tensor, _ = make_input(None, depth, ModelMetadata("ggcnn2", (300, 300), "depth"))
    rgb_tensor, _ = make_input(rgb, None, ModelMetadata("grconvnet", (224, 224), "rgb"))
    assert depth_tensor.shape == (1, 1, 300, 300)
    assert rgb_tensor.shape == (1, 3, 224, 224)
    with pytest.raises(InputError, match="modality 'depth' needs depth"):
        make_input(rgb, None, ModelMetadata("ggcnn2", (300, 300), "depth"))
