"""The one in-memory sample type of every grasp dataset, and a lazily read dataset of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from grasp_core.grasp import ImageGrasp

BACKGROUND = 0


@dataclass(frozen=True)
class Sample:
    """One labelled RGB-D image.

    rgb: HxWx3 uint8, RGB order. depth: HxW float32 in m along the camera's optical axis,
    registered to rgb; 0 or NaN where the sensor measured nothing. grasps: the ground-truth
    rectangles in px of this image (grasp_core.grasp conventions), each with the instance_id
    and label of its object where the dataset knows them. instance_mask: HxW int32, the
    instance id of the object seen at each pixel, BACKGROUND (0) for none; None when the
    dataset has no masks. labels: class label of each instance id in instance_mask.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    grasps: tuple[ImageGrasp, ...]
    instance_mask: np.ndarray | None = None
    labels: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.depth.shape
        if self.rgb.shape != (h, w, 3):
            raise ValueError(f"{self.name}: rgb {self.rgb.shape} does not match depth {(h, w)}")
        if self.instance_mask is not None and self.instance_mask.shape != (h, w):
            raise ValueError(
                f"{self.name}: instance mask {self.instance_mask.shape} does not match depth"
            )


@dataclass(frozen=True)
class Dataset(Sequence[Sample]):
    """Samples read from disk on access, one entry per image.

    name: where the data came from, as given to ``--data``. entries: what ``read`` needs to
    load one image (paths, usually). classes: the dataset's class labels, sorted; empty
    when it has none.
    """

    name: str
    entries: tuple[Any, ...]
    read: Callable[[Any], Sample]
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return self.read(self.entries[index])

    def __iter__(self) -> Iterator[Sample]:
        return (self.read(entry) for entry in self.entries)

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The images at ``indices``, in that order."""
        return Dataset(self.name, tuple(self.entries[i] for i in indices), self.read, self.classes)


def concatenate(name: str, datasets: Sequence[Dataset]) -> Dataset:
    """The images of ``datasets`` as one dataset called ``name``, in order; the classes
    are the first dataset's."""
    entries = tuple((i, e) for i, dataset in enumerate(datasets) for e in dataset.entries)
    read = partial(_read_part, tuple(d.read for d in datasets))
    return Dataset(name, entries, read, datasets[0].classes if datasets else ())


def _read_part(readers: tuple[Callable[[Any], Sample], ...], entry: tuple[int, Any]) -> Sample:
    # Module level, so that a concatenation pickles into data-loading processes.
    part, inner = entry
    return readers[part](inner)


SPLITS = ("train", "test", "all")


def split(dataset: Dataset, part: str, test_fraction: float = 0.1) -> Dataset:
    """A fixed image-wise split: every round(1 / test_fraction)-th image is a test image.

    Interleaving keeps both parts spread over the whole recording order (objects, sessions)
    of Cornell-style datasets, and is the same on every machine. part: one of SPLITS.
    """
    if part not in SPLITS:
        raise ValueError(f"split {part!r} is not one of {', '.join(SPLITS)}")
    if part == "all":
        return dataset
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    # At least one test image whenever there are two images at all.
    step = max(2, min(round(1.0 / test_fraction), len(dataset)))
    test = [i for i in range(len(dataset)) if i % step == step - 1]
    if part == "test":
        return dataset.subset(test)
    held = set(test)
    return dataset.subset([i for i in range(len(dataset)) if i not in held])
