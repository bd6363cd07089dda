"""The Jacquard grasp dataset.

Layout (any folder depth under the root): PREFIX_RGB.png, PREFIX_perfect_depth.tiff
(float32, m) and PREFIX_grasps.txt, one grasp a line "x;y;theta;opening;jaw": centre x, y
(px, = u, v), theta (deg, clockwise on screen since the image's y axis points down),
opening and jaw size (px).
"""

from __future__ import annotations

import math
from pathlib import Path

from grasp_core.datasets.sample import Dataset, Sample
from grasp_core.grasp import ImageGrasp
from grasp_core.images import read_depth, read_rgb
from grasp_core.preprocess import InputError, depth_to_metres

_LABELS = "_grasps.txt"


def parse_grasp(path: Path, number: int, line: str) -> ImageGrasp:
    """The grasp written as "x;y;theta;opening;jaw" on line ``number`` of ``path``."""
    try:
        u, v, theta_deg, opening, jaw = (float(field) for field in line.split(";"))
    except ValueError:
        raise InputError(
            f"{path}, line {number}: expected 'x;y;theta;opening;jaw', got {line!r}"
        ) from None
    # Jacquard's theta turns the other way round from grasp_core's counter-clockwise angle.
    return ImageGrasp(u=u, v=v, angle=-math.radians(theta_deg), width=opening, jaw_length=jaw)


def read_grasp_file(path: Path) -> tuple[ImageGrasp, ...]:
    """The grasps of a Jacquard grasp file, in file order; blank lines are skipped."""
    lines = enumerate(path.read_text().splitlines(), 1)
    return tuple(parse_grasp(path, n, line) for n, line in lines if line.strip())


def _read(labels: Path) -> Sample:
    prefix = labels.name.removesuffix(_LABELS)
    return Sample(
        name=prefix,
        rgb=read_rgb(labels.with_name(f"{prefix}_RGB.png")),
        depth=depth_to_metres(read_depth(labels.with_name(f"{prefix}_perfect_depth.tiff"))),
        grasps=read_grasp_file(labels),
    )


def open_jacquard(root: Path) -> Dataset:
    """The Jacquard images under ``root``, one per grasp file, by path."""
    return Dataset("jacquard", tuple(sorted(root.rglob(f"*{_LABELS}"))), _read)
