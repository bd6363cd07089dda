"""The OCID_grasp dataset (Ainetter & Fraundorfer, ICRA 2021).

Layout: sequence folders (e.g. ARID20/table/top/seq08/) holding, per image NAME,
rgb/NAME.png, depth/NAME.png (uint16, mm), seg_mask_labeled_combi/NAME.png (uint8 class id
of each pixel, 0 for background) and Annotations/NAME.txt (Cornell-style corner lists).

OCID_grasp labels object classes, not object instances, so the class mask stands in for
the instance mask and each class id for an instance id.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from grasp_core.datasets.cornell import read_corner_file
from grasp_core.datasets.sample import BACKGROUND, Dataset, Sample
from grasp_core.geometry import corners_to_grasp
from grasp_core.grasp import ImageGrasp
from grasp_core.images import read_depth, read_rgb
from grasp_core.preprocess import InputError, depth_to_metres

# Index = class id in the masks, as listed in grasp_det_seg/data_OCID/OCID_class_dict.py of
# github.com/stefan-ainetter/grasp_det_seg_cnn.
CLASS_NAMES = (
    "background",
    "apple",
    "ball",
    "banana",
    "bell_pepper",
    "binder",
    "bowl",
    "cereal_box",
    "coffee_mug",
    "flashlight",
    "food_bag",
    "food_box",
    "food_can",
    "glue_stick",
    "hand_towel",
    "instant_noodles",
    "keyboard",
    "kleenex",
    "lemon",
    "lime",
    "marker",
    "orange",
    "peach",
    "pear",
    "potato",
    "shampoo",
    "soda_can",
    "sponge",
    "stapler",
    "tomato",
    "toothpaste",
    "unknown",
)

DEPTH_SCALE_M = 0.001
"""m per unit of the uint16 depth PNGs (mm)."""


def class_name(class_id: int) -> str:
    """The OCID name of a mask class id; 'class_ID' for ids the dataset does not define."""
    return CLASS_NAMES[class_id] if 0 <= class_id < len(CLASS_NAMES) else f"class_{class_id}"


def read_class_mask(path: Path) -> np.ndarray:
    """The HxW int32 class id of each pixel of an OCID label PNG."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise InputError(f"cannot read a single-channel class mask from {path}")
    return mask.astype(np.int32)


def class_at(mask: np.ndarray, u: float, v: float) -> int:
    """The class id of the pixel holding (u, v) px; BACKGROUND outside the image."""
    row, col = math.floor(v + 0.5), math.floor(u + 0.5)
    inside = 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1]
    return int(mask[row, col]) if inside else BACKGROUND


def label_grasps(grasps: list[ImageGrasp], mask: np.ndarray) -> tuple[ImageGrasp, ...]:
    """The grasps with the class at their centre as instance id and label.

    This centre rule is how Ainetter & Fraundorfer's evaluation attributes grasps to
    classes. Grasps centred on background are dropped: they belong to no object, and
    keeping them would give instance-wise training a target on what instance_mask calls
    empty.
    """
    class_ids = [class_at(mask, grasp.u, grasp.v) for grasp in grasps]
    return tuple(
        replace(grasp, instance_id=class_id, label=class_name(class_id))
        for grasp, class_id in zip(grasps, class_ids, strict=True)
        if class_id != BACKGROUND
    )


def _read(root: Path, labels: Path) -> Sample:
    sequence, name = labels.parent.parent, labels.with_suffix(".png").name
    mask = read_class_mask(sequence / "seg_mask_labeled_combi" / name)
    grasps = [corners_to_grasp(rect) for rect in read_corner_file(labels)]
    return Sample(
        # The sequence's path keeps names unique should image names repeat across sequences.
        name=str(sequence.relative_to(root) / labels.stem),
        rgb=read_rgb(sequence / "rgb" / name),
        depth=depth_to_metres(read_depth(sequence / "depth" / name), DEPTH_SCALE_M),
        grasps=label_grasps(grasps, mask),
        instance_mask=mask,
        labels={int(i): class_name(int(i)) for i in np.unique(mask) if i != BACKGROUND},
    )


def open_ocid(root: Path) -> Dataset:
    """The OCID_grasp images under ``root``, one per Annotations file, by path."""
    entries = tuple(sorted(root.rglob("Annotations/*.txt")))
    return Dataset("ocid", entries, partial(_read, root), classes=tuple(sorted(CLASS_NAMES[1:])))
