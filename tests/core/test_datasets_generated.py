"""The generated dataset format (write_info / write_sample -> open_dataset), the image-wise
split, Dataset.subset and the Sample shape checks.

Expected values are worked out by hand from what the tests write: depth is stored as uint16
mm (so a read-back depth is within 0.5 mm of the written one), grasp geometry as text with
2 decimals (u, v, width, jaw_length) and 5 decimals (angle).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grasp_core.datasets import Dataset, DatasetError, Sample, open_dataset, split
from grasp_core.datasets.generated import write_info, write_sample
from grasp_core.grasp import ImageGrasp
from grasp_core.preprocess import InputError

H, W = 6, 8
CLASSES = ["bowl", "mug"]
CAMERA = {
    "pose": [[1.0, 0.0, 0.0, 0.1], [0.0, -1.0, 0.0, 0.2], [0.0, 0.0, -1.0, 0.9], [0, 0, 0, 1]],
    "objects": [{"id": 1, "label": "mug"}, {"id": 2, "label": "bowl"}],
}


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _depth() -> np.ndarray:
    # 0.6 m + 1.23 mm per column + 0.37 mm per row: not whole millimetres anywhere.
    vv, uu = np.mgrid[0:H, 0:W]
    depth = (0.6 + 0.00123 * uu + 0.00037 * vv).astype(np.float32)
    depth[2, 3] = 0.0  # a hole
    depth[4, 5] = np.nan  # NaN means "no depth" too
    return depth


def _mask() -> np.ndarray:
    mask = np.zeros((H, W), np.int32)
    mask[1:3, 1:4] = 1
    mask[3:6, 5:8] = 2
    return mask


GRASPS = (
    ImageGrasp(3.14159, 2.71828, 0.123456789, 4.0071, 1.23456, instance_id=1, label="mug"),
    ImageGrasp(6.4449, 4.0, -1.2345678, 2.5, 1.0, instance_id=2, label="bowl"),
)


def _sample(name: str = "000000", seed: int = 0, grasps=GRASPS) -> Sample:
    return Sample(
        name=name,
        rgb=_rgb(seed),
        depth=_depth(),
        grasps=grasps,
        instance_mask=_mask(),
        labels={1: "mug", 2: "bowl"},
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_info(root, {"classes": CLASSES, "seed": 7})
    write_sample(root, _sample("000000", seed=0), CAMERA)
    write_sample(root, _sample("000001", seed=1, grasps=GRASPS[:1]), CAMERA)
    return root


def test_written_sample_reads_back(folder: Path) -> None:
    ds = open_dataset(str(folder))
    assert len(ds) == 2
    assert ds.name == str(folder)
    assert ds.classes == ("bowl", "mug")
    sample = ds[0]
    assert sample.name == "000000"

    assert sample.rgb.dtype == np.uint8
    np.testing.assert_array_equal(sample.rgb, _rgb(0))

    written = _depth()
    assert sample.depth.dtype == np.float32
    assert sample.depth.shape == (H, W)
    assert sample.depth[2, 3] == 0.0
    assert sample.depth[4, 5] == 0.0  # NaN is stored as "no depth", 0
    measured = np.isfinite(written) & (written > 0)
    assert np.all(sample.depth[measured] > 0)
    # uint16 mm: within half a millimetre (plus float32 slack).
    error = np.abs(sample.depth[measured] - written[measured])
    assert error.max() <= 0.0005 + 1e-6
    # Not just a constant: the per-column millimetre steps survive.
    assert sample.depth[0, 7] == pytest.approx(round(600 + 1.23 * 7) / 1000, abs=1e-6)

    assert sample.instance_mask is not None
    assert sample.instance_mask.dtype == np.int32
    np.testing.assert_array_equal(sample.instance_mask, _mask())
    assert sample.labels == {1: "mug", 2: "bowl"}


def test_grasps_read_back_to_the_files_rounding(folder: Path) -> None:
    grasps = open_dataset(str(folder))[0].grasps
    assert len(grasps) == 2
    first, second = grasps
    # The file keeps u, v, width, jaw_length to 0.01 px and the angle to 1e-5 rad.
    assert (first.u, first.v) == (pytest.approx(3.14), pytest.approx(2.72))
    assert first.angle == pytest.approx(0.12346, abs=1e-12)
    assert first.width == pytest.approx(4.01, abs=1e-12)
    assert first.jaw_length == pytest.approx(1.23, abs=1e-12)
    assert (first.instance_id, first.label) == (1, "mug")

    assert (second.u, second.v) == (pytest.approx(6.44), pytest.approx(4.0))
    assert second.angle == pytest.approx(-1.23457, abs=1e-12)
    assert (second.width, second.jaw_length) == (pytest.approx(2.5), pytest.approx(1.0))
    assert (second.instance_id, second.label) == (2, "bowl")

    assert len(open_dataset(str(folder))[1].grasps) == 1


def test_grasp_without_label_or_instance_round_trips(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write_info(root, {"classes": []})
    grasp = ImageGrasp(1.0, 2.0, 0.5, 3.0, 1.5)  # no instance (-1), no label
    write_sample(root, _sample(grasps=(grasp,)), {})
    (line,) = (root / "grasps" / "000000.txt").read_text().splitlines()
    assert line.split()[:2] == ["-1", "-"]
    (back,) = open_dataset(str(root))[0].grasps
    assert (back.instance_id, back.label) == (-1, "")
    assert (back.u, back.v, back.angle, back.width, back.jaw_length) == (1.0, 2.0, 0.5, 3.0, 1.5)


def test_dataset_json_and_camera_file_content(folder: Path) -> None:
    info = json.loads((folder / "dataset.json").read_text())
    assert info["classes"] == CLASSES
    assert info["seed"] == 7
    assert info["depth_unit_m"] == 0.001
    camera = json.loads((folder / "camera" / "000000.json").read_text())
    assert camera["pose"] == CAMERA["pose"]
    assert camera["objects"] == CAMERA["objects"]


def test_samples_come_in_name_order_and_iterate(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write_info(root, {})
    for name in ("000002", "000000", "000001"):
        write_sample(root, _sample(name), {})
    ds = open_dataset(str(root))
    assert [s.name for s in ds] == ["000000", "000001", "000002"]
    assert ds.classes == ()


@pytest.mark.parametrize(
    "bad",
    [
        "1 mug 1.0 2.0 oops 3.0 4.0",  # not a number
        "1 mug 1.0 2.0 0.5 3.0",  # a field short
        "1 mug 1.0 2.0 0.5 3.0 4.0 5.0",  # a field too many
        "x mug 1.0 2.0 0.5 3.0 4.0",  # instance id not an integer
    ],
)
def test_malformed_grasp_line_names_file_and_line(folder: Path, bad: str) -> None:
    path = folder / "grasps" / "000000.txt"
    # A good line, a blank line (skipped, but still counted), then the bad one: line 3.
    path.write_text(f"1 mug 1.00 2.00 0.50000 3.00 4.00\n\n{bad}\n")
    ds = open_dataset(str(folder))
    with pytest.raises(InputError) as info:
        ds[0]
    message = str(info.value)
    assert "000000.txt" in message
    assert "line 3" in message


def test_folder_without_dataset_json_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "grasps").mkdir()
    (tmp_path / "grasps" / "000000.txt").write_text("1 mug 1 2 0 3 4\n")
    with pytest.raises(InputError, match="not a generated dataset"):
        open_dataset(str(tmp_path))


def test_dataset_json_of_another_format_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"format": "something_else"}))
    with pytest.raises(InputError, match="something_else"):
        open_dataset(str(tmp_path))


def test_missing_folder_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(str(tmp_path / "nowhere"))


def test_dataset_without_images_is_a_dataset_error(tmp_path: Path) -> None:
    write_info(tmp_path / "empty", {})
    with pytest.raises(DatasetError, match="no labelled image"):
        open_dataset(str(tmp_path / "empty"))


def _indices(n: int) -> Dataset:
    return Dataset("stub", tuple(range(n)), read=lambda entry: entry, classes=("a",))


def test_split_takes_every_tenth_image_for_test() -> None:
    ds = _indices(25)
    test = split(ds, "test", 0.1)
    train = split(ds, "train", 0.1)
    assert test.entries == (9, 19)
    assert set(train.entries).isdisjoint(test.entries)
    assert sorted(train.entries + test.entries) == list(range(25))
    assert train.entries == tuple(i for i in range(25) if i not in (9, 19))
    # Reads go through the dataset's read function, classes are kept.
    assert list(test) == [9, 19]
    assert test[1] == 19
    assert test.classes == ("a",)
    assert split(ds, "all") is ds


def test_split_of_a_quarter_and_of_tiny_datasets() -> None:
    assert split(_indices(12), "test", 0.25).entries == (3, 7, 11)
    # Whenever there are two images at all, at least one is held out.
    for n in range(2, 12):
        test = split(_indices(n), "test", 0.1).entries
        train = split(_indices(n), "train", 0.1).entries
        assert len(test) >= 1, n
        assert len(train) >= 1, n
        assert sorted(test + train) == list(range(n))


def test_bad_split_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="validation"):
        split(_indices(5), "validation")
    for fraction in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError):
            split(_indices(5), "test", fraction)


def test_subset_keeps_the_given_order() -> None:
    sub = _indices(10).subset([7, 2, 2])
    assert sub.entries == (7, 2, 2)
    assert list(sub) == [7, 2, 2]
    assert len(sub) == 3
    assert sub.name == "stub"


def test_sample_refuses_mismatched_sizes() -> None:
    depth = np.ones((H, W), np.float32)
    with pytest.raises(ValueError, match="does not match"):
        Sample("s", np.zeros((H, W - 1, 3), np.uint8), depth, ())
    with pytest.raises(ValueError):
        Sample("s", np.zeros((H, W), np.uint8), depth, ())  # not 3 channels
    with pytest.raises(ValueError, match="instance mask"):
        Sample("s", np.zeros((H, W, 3), np.uint8), depth, (), np.zeros((H + 1, W), np.int32))
    ok = Sample("s", np.zeros((H, W, 3), np.uint8), depth, (), np.zeros((H, W), np.int32))
    assert ok.labels == {}
    assert math.isclose(float(ok.depth[0, 0]), 1.0)


def test_datasets_joined_by_plus_read_as_one(folder: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    write_info(second, {"classes": CLASSES, "seed": 8})
    write_sample(second, _sample("000000", seed=5, grasps=GRASPS[1:]), CAMERA)
    joined = open_dataset(f"{folder}+{second}")
    assert len(joined) == 3 and joined.classes == tuple(CLASSES)
    assert [len(s.grasps) for s in joined] == [2, 1, 1]
    np.testing.assert_array_equal(joined[2].rgb, _rgb(5))  # the same name, the second folder
    assert [len(s.grasps) for s in split(joined, "test", 0.34)] == [1]


def test_joined_datasets_must_name_the_same_classes(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_info(other, {"classes": ["cube"], "seed": 8})
    write_sample(other, _sample("000000"), CAMERA)
    with pytest.raises(DatasetError, match="different classes"):
        open_dataset(f"{folder}+{other}")
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(f"{folder}+{tmp_path / 'missing'}")
