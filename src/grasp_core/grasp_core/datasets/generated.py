"""The project's generated dataset format (OCID_grasp-like), read and written here.

One folder per dataset:

    dataset.json            format, classes (label per class id 1..), object set, seed,
                            camera intrinsics, depth unit
    rgb/NNNNNN.png          colour, 8-bit
    depth/NNNNNN.png        depth along the optical axis, uint16 in depth_unit_m (0: none),
                            with the camera noise model applied (what a robot's camera gives)
    instance/NNNNNN.png     uint16 instance id per pixel, 0 for table and background
    grasps/NNNNNN.txt       one rectangle per line: instance_id label u v angle width jaw
                            (px, rad; grasp_core.grasp conventions)
    camera/NNNNNN.json      camera pose (optical frame -> world, 4x4) and the scene's objects
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from grasp_core.datasets.sample import Dataset, Sample
from grasp_core.grasp import ImageGrasp
from grasp_core.images import read_depth, read_rgb
from grasp_core.preprocess import InputError

FORMAT = "grasp_stack_generated"
INFO_FILE = "dataset.json"
DEPTH_UNIT_M = 0.001
FOLDERS = ("rgb", "depth", "instance", "grasps", "camera")


def sample_name(index: int) -> str:
    """File stem of image ``index``."""
    return f"{index:06d}"


def write_info(root: Path, info: dict[str, Any]) -> None:
    """Create the dataset folder and its dataset.json (``info`` plus format and unit)."""
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, "depth_unit_m": DEPTH_UNIT_M, **info}
    (root / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))


def _grasp_line(g: ImageGrasp) -> str:
    # Fields are whitespace-separated and '-' stands for no label.
    if g.label == "-" or len(g.label.split()) > 1:
        raise ValueError(f"label {g.label!r}: labels in this format are one word, not '-'")
    label = g.label or "-"
    geometry = f"{g.u:.2f} {g.v:.2f} {g.angle:.5f} {g.width:.2f} {g.jaw_length:.2f}"
    return f"{g.instance_id} {label} {geometry}"


def write_sample(root: Path, sample: Sample, camera: dict[str, Any]) -> None:
    """Write one sample under its name; depth is stored in DEPTH_UNIT_M steps."""
    name = sample.name
    cv2.imwrite(str(root / "rgb" / f"{name}.png"), cv2.cvtColor(sample.rgb, cv2.COLOR_RGB2BGR))
    depth = np.nan_to_num(sample.depth, nan=0.0) / DEPTH_UNIT_M
    cv2.imwrite(
        str(root / "depth" / f"{name}.png"), np.clip(np.rint(depth), 0, 65535).astype(np.uint16)
    )
    mask = sample.instance_mask if sample.instance_mask is not None else np.zeros(depth.shape)
    cv2.imwrite(str(root / "instance" / f"{name}.png"), mask.astype(np.uint16))
    (root / "camera" / f"{name}.json").write_text(json.dumps({**camera, "labels": sample.labels}))
    # The grasp file names the sample to readers (open_generated lists grasps/), so it comes
    # last and appears whole: a generation stopped midway leaves a readable dataset.
    partial = root / "grasps" / f"{name}.txt.partial"
    partial.write_text("".join(_grasp_line(g) + "\n" for g in sample.grasps))
    partial.replace(root / "grasps" / f"{name}.txt")


def _parse_grasp(path: Path, number: int, line: str) -> ImageGrasp:
    fields = line.split()
    try:
        instance, label = int(fields[0]), fields[1]
        u, v, angle, width, jaw = (float(x) for x in fields[2:])
    except (ValueError, IndexError):
        raise InputError(
            f"{path}, line {number}: expected 'instance_id label u v angle width jaw', got {line!r}"
        ) from None
    return ImageGrasp(
        u, v, angle, width, jaw, instance_id=instance, label="" if label == "-" else label
    )


def read_grasp_file(path: Path) -> tuple[ImageGrasp, ...]:
    """The rectangles of one grasps/NNNNNN.txt file."""
    lines = path.read_text().splitlines()
    return tuple(_parse_grasp(path, n, line) for n, line in enumerate(lines, 1) if line.strip())


def _read(entry: tuple[Path, str, float]) -> Sample:
    root, name, unit = entry
    camera_path = root / "camera" / f"{name}.json"
    try:
        camera = json.loads(camera_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read {camera_path}: {error}") from None
    depth = read_depth(root / "depth" / f"{name}.png").astype(np.float32) * np.float32(unit)
    return Sample(
        name=name,
        rgb=read_rgb(root / "rgb" / f"{name}.png"),
        depth=depth,
        grasps=read_grasp_file(root / "grasps" / f"{name}.txt"),
        instance_mask=read_depth(root / "instance" / f"{name}.png").astype(np.int32),
        labels={int(k): v for k, v in camera.get("labels", {}).items()},
    )


def read_info(root: Path) -> dict[str, Any]:
    """dataset.json of a generated dataset; InputError if root is not one."""
    path = root / INFO_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{root} is not a generated dataset ({path}: {error})") from None
    if info.get("format") != FORMAT:
        raise InputError(f"{path} has format {info.get('format')!r}, expected {FORMAT!r}")
    return info


def open_generated(root: Path) -> Dataset:
    """The images of the generated dataset in ``root``, in index order."""
    info = read_info(root)
    names = sorted(p.stem for p in (root / "grasps").glob("*.txt"))
    unit = float(info["depth_unit_m"])
    return Dataset(
        "generated", tuple((root, n, unit) for n in names), _read, tuple(info.get("classes", ()))
    )
