"""Grasp datasets: the project's generated scenes and Cornell, Jacquard and OCID_grasp.

``open_dataset(spec)`` takes what ``--data`` takes everywhere: a generated folder, or
``cornell:PATH``, ``jacquard:PATH``, ``ocid:PATH``; several of them joined by ``+`` are
read as one dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grasp_core.datasets.cornell import open_cornell
from grasp_core.datasets.generated import open_generated
from grasp_core.datasets.jacquard import open_jacquard
from grasp_core.datasets.ocid import open_ocid
from grasp_core.datasets.sample import BACKGROUND, SPLITS, Dataset, Sample, concatenate, split

OPENERS: dict[str, Callable[[Path], Dataset]] = {
    "cornell": open_cornell,
    "jacquard": open_jacquard,
    "ocid": open_ocid,
}


class DatasetError(ValueError):
    """A ``--data`` spec that names no readable dataset."""


def spec_parts(spec: str) -> list[str]:
    """The datasets a ``--data`` spec joins with '+', in order (one for a plain spec)."""
    return spec.split("+")


def open_dataset(spec: str) -> Dataset:
    """The dataset named by ``spec``: 'KIND:PATH' for KIND in OPENERS, else a generated folder;
    'A+B+...' is the images of A, then of B, and so on (their classes must agree)."""
    names = spec_parts(spec)
    if len(names) > 1:
        parts = [open_dataset(name) for name in names]
        if len({part.classes for part in parts}) > 1:
            raise DatasetError(
                f"dataset {spec!r}: its parts name different classes "
                f"({'; '.join(', '.join(part.classes) for part in parts)})"
            )
        return concatenate(spec, parts)
    kind, sep, path = spec.partition(":")
    if sep and kind in OPENERS:
        opener, root = OPENERS[kind], Path(path)
    else:
        opener, root = open_generated, Path(spec)
    if not root.is_dir():
        raise DatasetError(f"dataset {spec!r}: {root} is not a folder")
    dataset = opener(root)
    if not len(dataset):
        raise DatasetError(f"dataset {spec!r}: no labelled image found under {root}")
    return Dataset(spec, dataset.entries, dataset.read, dataset.classes)


__all__ = [
    "BACKGROUND",
    "OPENERS",
    "SPLITS",
    "Dataset",
    "DatasetError",
    "Sample",
    "concatenate",
    "open_dataset",
    "spec_parts",
    "split",
]
