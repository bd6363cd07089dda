"""Cornell, Jacquard and OCID_grasp loaders, on tiny hand-written copies of their layouts.

Expected grasps are worked out by hand from the rectangles written, in grasp_core's
conventions: angle of the closing axis (rad, counter-clockwise on screen, so the axis is
(cos a, -sin a) in (u, v)), width along it and jaw_length across it (px).
"""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from grasp_core.datasets import DatasetError, open_dataset
from grasp_core.datasets.cornell import open_cornell
from grasp_core.datasets.jacquard import open_jacquard
from grasp_core.datasets.ocid import open_ocid
from grasp_core.grasp import NO_INSTANCE
from grasp_core.preprocess import InputError

H, W = 8, 10
RED_BGR = (0, 0, 255)


def write_rgb(path: Path) -> None:
    """An HxW colour PNG, pure red at pixel (0, 0) and black elsewhere, written as BGR."""
    image = np.zeros((H, W, 3), np.uint8)
    image[0, 0] = RED_BGR
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def write_float_depth(path: Path, metres: float) -> None:
    """A float32 TIFF of ``metres`` everywhere but pixel (0, 0), which has no depth (0)."""
    depth = np.full((H, W), metres, np.float32)
    depth[0, 0] = 0.0
    assert cv2.imwrite(str(path), depth)


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def assert_grasp(grasp, u, v, angle, width, jaw_length) -> None:
    assert (grasp.u, grasp.v) == pytest.approx((u, v))
    assert grasp.angle == pytest.approx(angle)
    assert (grasp.width, grasp.jaw_length) == pytest.approx((width, jaw_length))


def assert_red_corner(rgb: np.ndarray) -> None:
    assert rgb.shape == (H, W, 3)
    assert rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 0, 0)


def test_float32_tiff_round_trips_through_cv2(tmp_path):
    write_float_depth(tmp_path / "d.tiff", 0.6125)
    depth = cv2.imread(str(tmp_path / "d.tiff"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.float32
    assert depth[1, 1] == np.float32(0.6125)


# --- Cornell ------------------------------------------------------------------------------

# Axis-aligned: closing axis p0 -> p1 = (+4, 0), jaw side p1 -> p2 = (0, +2).
CORNELL_FLAT = ["2 3", "6 3", "6 5", "2 5"]
# p0 -> p1 = (3, -4): up and right on screen, so counter-clockwise, angle atan2(4, 3) and
# width 5; the jaw side p1 -> p2 = (8, 6) is 10 px long; the centre is the corners' mean.
CORNELL_TILTED = ["1 6", "4 2", "12 8", "9 12"]
CORNELL_NAN = ["3 3", "NaN NaN", "5 5", "3 5"]


def make_cornell(root: Path) -> None:
    # The second image sits in the earlier folder: the dataset must order by file name.
    for folder, stem, metres in (("02", "pcd0100", 0.75), ("01", "pcd0101", 0.5)):
        write_rgb(root / folder / f"{stem}r.png")
        write_float_depth(root / folder / f"{stem}d.tiff", metres)
    write_lines(root / "02" / "pcd0100cpos.txt", CORNELL_FLAT + CORNELL_NAN + CORNELL_TILTED)
    write_lines(root / "01" / "pcd0101cpos.txt", CORNELL_FLAT)


def test_cornell_reads_rectangles_and_skips_nan(tmp_path):
    make_cornell(tmp_path)
    dataset = open_cornell(tmp_path)
    assert len(dataset) == 2
    assert dataset.classes == ()
    sample = dataset[0]
    assert [s.name for s in dataset] == ["pcd0100", "pcd0101"]
    assert len(sample.grasps) == 2
    flat, tilted = sample.grasps
    assert_grasp(flat, u=4.0, v=4.0, angle=0.0, width=4.0, jaw_length=2.0)
    assert_grasp(tilted, u=6.5, v=7.0, angle=math.atan2(4, 3), width=5.0, jaw_length=10.0)
    assert (flat.instance_id, flat.label) == (NO_INSTANCE, "")
    assert sample.instance_mask is None
    assert_red_corner(sample.rgb)
    assert sample.depth.dtype == np.float32
    assert sample.depth[1, 1] == pytest.approx(0.75)
    assert np.isnan(sample.depth[0, 0])


def test_cornell_malformed_line_names_file_and_line(tmp_path):
    make_cornell(tmp_path)
    write_lines(tmp_path / "01" / "pcd0101cpos.txt", ["2 3", "6 3", "6;5", "2 5"])
    with pytest.raises(InputError, match=r"pcd0101cpos\.txt, line 3"):
        open_cornell(tmp_path)[1]


def test_cornell_incomplete_rectangle_is_an_error(tmp_path):
    make_cornell(tmp_path)
    write_lines(tmp_path / "01" / "pcd0101cpos.txt", [*CORNELL_FLAT, "1 1"])
    with pytest.raises(InputError, match=r"pcd0101cpos\.txt"):
        open_cornell(tmp_path)[1]


def test_open_dataset_dispatches_cornell_and_rejects_missing_folders(tmp_path):
    make_cornell(tmp_path / "cornell")
    spec = f"cornell:{tmp_path / 'cornell'}"
    dataset = open_dataset(spec)
    assert (dataset.name, len(dataset)) == (spec, 2)
    assert len(dataset[1].grasps) == 1
    with pytest.raises(DatasetError):
        open_dataset(f"cornell:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        open_dataset(f"jacquard:{tmp_path / 'empty'}")


# --- Jacquard -----------------------------------------------------------------------------


def make_jacquard(root: Path, lines: list[str]) -> None:
    prefix = root / "1a2b3c" / "1_1a2b3c"
    write_rgb(Path(f"{prefix}_RGB.png"))
    write_float_depth(Path(f"{prefix}_perfect_depth.tiff"), 1.25)
    write_lines(Path(f"{prefix}_grasps.txt"), lines)


def test_jacquard_angle_is_clockwise_degrees_negated(tmp_path):
    make_jacquard(tmp_path, ["5.0;4.0;30.0;6.0;2.0", "3;2;120;4;1.5"])
    dataset = open_jacquard(tmp_path)
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample.name == "1_1a2b3c"
    first, second = sample.grasps
    assert_grasp(first, u=5.0, v=4.0, angle=-math.pi / 6, width=6.0, jaw_length=2.0)
    # 30 deg clockwise on screen: the closing axis points right and down (v grows).
    axis = (math.cos(first.angle), -math.sin(first.angle))
    assert axis == pytest.approx((math.sqrt(3) / 2, 0.5))
    # 120 deg clockwise is -120 deg counter-clockwise, the same grasp as +60 deg.
    assert_grasp(second, u=3.0, v=2.0, angle=math.pi / 3, width=4.0, jaw_length=1.5)
    assert_red_corner(sample.rgb)
    assert sample.depth.dtype == np.float32
    assert sample.depth[1, 1] == pytest.approx(1.25)
    assert sample.instance_mask is None


def test_jacquard_malformed_line_names_file_and_line(tmp_path):
    make_jacquard(tmp_path, ["5;4;30;6;2", "5;4;30;6"])
    with pytest.raises(InputError, match=r"1_1a2b3c_grasps\.txt, line 2"):
        open_jacquard(tmp_path)[0]


# --- OCID_grasp ---------------------------------------------------------------------------

MUG, SODA_CAN = 8, 26
OCID_SEQUENCE = Path("ARID20", "table", "top", "seq08")
OCID_IMAGE = "result_2018-08-21-14-44-31"


def ocid_mask() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[2:6, 1:5] = MUG
    mask[2:7, 6:10] = SODA_CAN
    return mask


def make_ocid(root: Path) -> None:
    sequence = root / OCID_SEQUENCE
    write_rgb(sequence / "rgb" / f"{OCID_IMAGE}.png")
    depth = np.full((H, W), 1234, np.uint16)
    depth[0, 0] = 0
    (sequence / "depth").mkdir()
    assert cv2.imwrite(str(sequence / "depth" / f"{OCID_IMAGE}.png"), depth)
    (sequence / "seg_mask_labeled_combi").mkdir()
    assert cv2.imwrite(str(sequence / "seg_mask_labeled_combi" / f"{OCID_IMAGE}.png"), ocid_mask())
    rectangles = [
        # Centre (3, 4), on the mug; closing axis +u.
        *["1 3", "5 3", "5 5", "1 5"],
        # Centre (0, 0), on background: dropped.
        *["-1 -1", "1 -1", "1 1", "-1 1"],
        # Centre (8, 4), on the can; closing axis p0 -> p1 = (0, -4) points up: +pi/2,
        # kept as -pi/2 by the half-turn symmetry.
        *["7 6", "7 2", "9 2", "9 6"],
    ]
    write_lines(sequence / "Annotations" / f"{OCID_IMAGE}.txt", rectangles)
    # The dataset's per-class copies of the rectangles are not images of their own.
    write_lines(
        sequence / "Annotations_per_class" / OCID_IMAGE / str(MUG) / f"{OCID_IMAGE}.txt",
        rectangles[:4],
    )


def test_ocid_labels_grasps_by_the_class_at_their_centre(tmp_path):
    make_ocid(tmp_path)
    dataset = open_ocid(tmp_path)
    assert len(dataset) == 1
    assert len(dataset.classes) == 31
    assert {"coffee_mug", "soda_can", "unknown"} <= set(dataset.classes)
    assert "background" not in dataset.classes
    sample = dataset[0]
    assert sample.name == str(OCID_SEQUENCE / OCID_IMAGE)
    mug, can = sample.grasps
    assert_grasp(mug, u=3.0, v=4.0, angle=0.0, width=4.0, jaw_length=2.0)
    assert (mug.instance_id, mug.label) == (MUG, "coffee_mug")
    assert_grasp(can, u=8.0, v=4.0, angle=-math.pi / 2, width=4.0, jaw_length=2.0)
    assert (can.instance_id, can.label) == (SODA_CAN, "soda_can")
    assert sample.instance_mask.dtype == np.int32
    np.testing.assert_array_equal(sample.instance_mask, ocid_mask())
    assert sample.labels == {MUG: "coffee_mug", SODA_CAN: "soda_can"}


def test_ocid_depth_millimetres_become_metres_and_rgb_is_rgb(tmp_path):
    make_ocid(tmp_path)
    sample = open_ocid(tmp_path)[0]
    assert sample.depth.dtype == np.float32
    assert sample.depth[1, 1] == pytest.approx(1.234)
    assert np.isnan(sample.depth[0, 0])
    assert_red_corner(sample.rgb)


def test_ocid_malformed_line_names_file_and_line(tmp_path):
    make_ocid(tmp_path)
    write_lines(tmp_path / OCID_SEQUENCE / "Annotations" / f"{OCID_IMAGE}.txt", ["1 3", "x 3"])
    with pytest.raises(InputError, match=rf"{OCID_IMAGE}\.txt, line 2"):
        open_ocid(tmp_path)[0]
