"""The workspace box from the per-arm YAML and its containment test (bounds inside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grasp_core.workspace import Workspace

BOX = Workspace.from_config({"lower": [0.2, -0.4, -0.02], "upper": [0.8, 0.4, 0.5]})


def test_contains_points_inside_and_on_the_bounds() -> None:
    points = np.array(
        [
            [0.5, 0.0, 0.1],  # inside
            [0.2, -0.4, -0.02],  # lower corner
            [0.8, 0.4, 0.5],  # upper corner
            [0.19, 0.0, 0.1],  # x too small
            [0.5, 0.41, 0.1],  # y too large
            [0.5, 0.0, -0.03],  # below the table margin
            [np.nan, 0.0, 0.1],  # no position
        ]
    )
    np.testing.assert_array_equal(BOX.contains(points), [1, 1, 1, 0, 0, 0, 0])
    assert BOX.contains(np.array([0.5, 0.0, 0.1])) is True
    assert BOX.contains([0.9, 0.0, 0.1]) is False


def test_contains_keeps_leading_axes() -> None:
    grid = np.tile([0.5, 0.0, 0.0], (2, 3, 1))
    grid[1, 2, 2] = 1.0
    np.testing.assert_array_equal(BOX.contains(grid), [[1, 1, 1], [1, 1, 0]])


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"lower": [0, 0, 0]}, "upper"),
        ({"lower": [0, 0], "upper": [1, 1, 1]}, r"\[x, y, z\]"),
        ({"lower": [0, 0, 1], "upper": [1, 1, 1]}, "below"),
        ({"lower": [0, 0, 0], "upper": [1, np.inf, 1]}, r"\[x, y, z\]"),
    ],
)
def test_bad_configs_are_refused(config: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Workspace.from_config(config)


def test_load_from_the_arm_yaml(tmp_path: Path) -> None:
    path = tmp_path / "arm.yaml"
    path.write_text("arm: ur5\nworkspace: {lower: [0.2, -0.4, -0.02], upper: [0.8, 0.4, 0.5]}\n")
    box = Workspace.load(path)
    np.testing.assert_array_equal(box.lower, [0.2, -0.4, -0.02])
    np.testing.assert_array_equal(box.upper, [0.8, 0.4, 0.5])
    path.write_text("arm: ur5\n")
    with pytest.raises(ValueError, match=r"arm\.yaml: no workspace"):
        Workspace.load(path)
    path.write_text("workspace: {lower: [1, 0, 0], upper: [0, 1, 1]}\n")
    with pytest.raises(ValueError, match=r"arm\.yaml: .*below"):
        Workspace.load(path)
