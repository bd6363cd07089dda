"""The Cornell grasp dataset, and the corner-list rectangle files it shares with OCID_grasp.

Layout (any folder depth under the root): pcdXXXXr.png (RGB), pcdXXXXd.tiff (float32
depth, m) and pcdXXXXcpos.txt (positive rectangles). Cornell ships point clouds, not
depth images; the tiffs are those of GG-CNN's ``generate_cornell_depth``, which stores
each pixel's distance from the camera (range, m) rather than its depth along the optical
axis: larger by 1/cos of the ray's angle off the axis, a few % where the objects lie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grasp_core.datasets.sample import Dataset, Sample
from grasp_core.geometry import corners_to_grasp
from grasp_core.images import read_depth, read_rgb
from grasp_core.preprocess import InputError, depth_to_metres

_LABELS = "cpos.txt"


def _parse_point(path: Path, number: int, line: str) -> tuple[float, float]:
    """The corner (u, v) px written as "x y" on line ``number`` of ``path``."""
    try:
        u, v = (float(field) for field in line.split())
    except ValueError:
        raise InputError(f"{path}, line {number}: expected 'x y' in px, got {line!r}") from None
    return u, v


def read_corner_file(path: Path) -> list[np.ndarray]:
    """The (4, 2) corners (u, v) px of each rectangle of a corner-list file, in file order.

    Four lines "x y" per rectangle in grasp_core.geometry's corner order (p0 -> p1 along the
    closing axis). Rectangles with a NaN corner are left out: a few Cornell rectangles
    have one, and without all four corners there is no rectangle to recover.
    """
    lines = path.read_text().splitlines()
    points = [_parse_point(path, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if len(points) % 4:
        raise InputError(
            f"{path}, line {len(lines)}: {len(points)} corner lines, not 4 per rectangle"
        )
    corners = np.array(points, dtype=np.float64).reshape(-1, 4, 2)
    return [rect for rect in corners if not np.isnan(rect).any()]


def _read(labels: Path) -> Sample:
    stem = labels.name.removesuffix(_LABELS)
    depth_path = labels.with_name(f"{stem}d.tiff")
    if not depth_path.is_file():
        raise InputError(
            f"{depth_path} is missing: make the Cornell depth images from the point clouds "
            "first (GG-CNN's utils/dataset_processing/generate_cornell_depth)"
        )
    return Sample(
        name=stem,
        rgb=read_rgb(labels.with_name(f"{stem}r.png")),
        depth=depth_to_metres(read_depth(depth_path)),
        grasps=tuple(corners_to_grasp(rect) for rect in read_corner_file(labels)),
    )


def open_cornell(root: Path) -> Dataset:
    """The Cornell images under ``root`` that have positive rectangles, by file name."""
    entries = sorted(root.rglob(f"pcd*{_LABELS}"), key=lambda path: path.name)
    return Dataset("cornell", tuple(entries), _read)
