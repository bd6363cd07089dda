"""The object catalogue: procedural household shapes and pybullet_data's random meshes.

Every object is a (family, index) pair that always builds the same shape. Families are the
class labels of the generated data. Indices below NOVEL_FROM form the ``seen`` set used for
training; the rest form the ``novel`` set that only held-out tests use, so a model is scored
on shapes it never saw (002_a78fe279f064600a.txt's seen / novel protocol).

Frames: an object's parts are given in its body frame, in m, origin at the centre of its
bounding box.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

FAMILIES = ("box", "cylinder", "sphere", "capsule", "mug", "bowl", "blob")
CATALOGUE_SIZE = 1000
NOVEL_FROM = 800
OBJECT_SETS = {"seen": range(0, NOVEL_FROM), "novel": range(NOVEL_FROM, CATALOGUE_SIZE)}

# Segments approximating a round wall (mugs, bowls): enough that the gripper meets a
# smooth-looking wall, few enough to keep contacts cheap.
_WALL_SEGMENTS = 16


@dataclass(frozen=True)
class Part:
    """One convex piece of an object, as an MJCF geom.

    kind: 'box', 'cylinder', 'sphere', 'capsule' or 'mesh'. size: the MJCF size (half
    extents / radius, half length), m. pos: centre in the body frame, m. quat: orientation
    (w, x, y, z) in the body frame. vertices: (N, 3) m in the part frame, for 'mesh' only.
    """

    kind: str
    size: tuple[float, ...] = ()
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    vertices: np.ndarray | None = None


@dataclass(frozen=True)
class ObjectModel:
    """A rigid object: name (family_index), family (its class label) and convex parts."""

    name: str
    family: str
    parts: tuple[Part, ...]


def _rng(family: str, index: int) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{family}/{index}".encode()))


def _tilted_quat(about_z: float, tilt: float) -> tuple[float, float, float, float]:
    """Rotation about z by about_z after tilting about y by tilt (both rad)."""
    cz, sz = math.cos(about_z / 2), math.sin(about_z / 2)
    cy, sy = math.cos(tilt / 2), math.sin(tilt / 2)
    return (cz * cy, -sz * sy, cz * sy, sz * cy)


def _ring(radius: float, half_height: float, thickness: float, z: float, tilt: float = 0.0):
    """Boxes forming a round wall of the given radius (m) around z, centred at height z,
    tilted outward by tilt (rad): a flared wall when tilt > 0."""
    # Each box spans its share of the circumference where the wall is widest (a flared rim),
    # with 10 % overlap: sized at the mid radius they left V-shaped gaps in a bowl's rim
    # that caught a fingertip and hung the bowl on the gripper.
    widest = radius + half_height * math.sin(tilt) + thickness / 2 * math.cos(tilt)
    half_arc = 1.1 * widest * math.pi / _WALL_SEGMENTS
    parts = []
    for k in range(_WALL_SEGMENTS):
        phi = 2 * math.pi * k / _WALL_SEGMENTS
        pos = (radius * math.cos(phi), radius * math.sin(phi), z)
        parts.append(
            Part("box", (thickness / 2, half_arc, half_height), pos, _tilted_quat(phi, tilt))
        )
    return parts


def _mug(rng: np.random.Generator) -> list[Part]:
    radius, height, wall = rng.uniform(0.03, 0.045), rng.uniform(0.07, 0.11), 0.005
    parts = [Part("cylinder", (radius, wall / 2), (0, 0, -height / 2 + wall / 2))]
    parts += _ring(radius, height / 2, wall, 0.0)
    reach, half_span = rng.uniform(0.02, 0.03), 0.3 * height
    x_out = radius + reach
    parts += [
        Part("box", (reach / 2, 0.005, 0.005), (radius + reach / 2, 0, half_span)),
        Part("box", (reach / 2, 0.005, 0.005), (radius + reach / 2, 0, -half_span)),
        Part("box", (0.005, 0.005, half_span + 0.005), (x_out, 0, 0)),
    ]
    return parts


def _bowl(rng: np.random.Generator) -> list[Part]:
    radius, height, wall = rng.uniform(0.05, 0.08), rng.uniform(0.035, 0.06), 0.006
    flare = math.radians(rng.uniform(20, 40))
    bottom = radius - height * math.tan(flare)
    parts = [Part("cylinder", (bottom, wall / 2), (0, 0, -height / 2 + wall / 2))]
    slant = height / math.cos(flare)
    parts += _ring((radius + bottom) / 2, slant / 2, wall, 0.0, tilt=flare)
    return parts


def _read_obj_parts(path: Path) -> list[np.ndarray]:
    """Vertices of each 'o' group of a convex-decomposed OBJ file, in file units."""
    groups: list[list[list[float]]] = []
    for line in path.read_text().splitlines():
        if line.startswith("o ") or (line.startswith("v ") and not groups):
            groups.append([])
        if line.startswith("v "):
            groups[-1].append([float(x) for x in line.split()[1:4]])
    return [np.array(g) for g in groups if len(g) >= 4]


def mesh_root() -> Path:
    """Where pybullet_data keeps its 1000 random objects (random_urdfs/NNN/NNN.obj)."""
    import pybullet_data  # a data-only package: the simulator itself is not used

    return Path(pybullet_data.getDataPath()) / "random_urdfs"


class BrokenMeshError(ValueError):
    """A catalogue mesh that cannot become an object (pybullet_data's 168.obj holds only
    NaN vertices)."""


def _blob(rng: np.random.Generator, index: int) -> list[Part]:
    path = mesh_root() / f"{index:03d}" / f"{index:03d}.obj"
    pieces = [p for p in _read_obj_parts(path) if np.isfinite(p).all()]
    if not pieces:
        raise BrokenMeshError(f"{path} holds no piece with finite vertices")
    everything = np.concatenate(pieces)
    low, high = everything.min(0), everything.max(0)
    scale = rng.uniform(0.05, 0.11) / float((high - low).max())
    centre = (low + high) / 2
    return [Part("mesh", vertices=(p - centre) * scale) for p in pieces]


def _primitive(family: str, rng: np.random.Generator) -> list[Part]:
    if family == "box":
        half = rng.uniform(0.015, 0.05, size=3)
        half[rng.integers(3)] = rng.uniform(0.015, 0.03)  # one side always fits the gripper
        return [Part("box", tuple(half))]
    if family == "cylinder":
        return [Part("cylinder", (rng.uniform(0.015, 0.035), rng.uniform(0.02, 0.08)))]
    if family == "sphere":
        return [Part("sphere", (rng.uniform(0.02, 0.038),))]
    if family == "capsule":
        return [Part("capsule", (rng.uniform(0.012, 0.03), rng.uniform(0.02, 0.06)))]
    if family == "mug":
        return _mug(rng)
    if family == "bowl":
        return _bowl(rng)
    raise ValueError(f"unknown object family {family!r}: one of {', '.join(FAMILIES)}")


@cache
def object_model(family: str, index: int) -> ObjectModel:
    """The catalogue's object ``index`` (0 <= index < CATALOGUE_SIZE) of ``family``."""
    if not 0 <= index < CATALOGUE_SIZE:
        raise ValueError(f"object index {index} is outside 0..{CATALOGUE_SIZE - 1}")
    rng = _rng(family, index)
    parts = _blob(rng, index) if family == "blob" else _primitive(family, rng)
    return ObjectModel(f"{family}_{index:03d}", family, tuple(parts))


def sample_objects(rng: np.random.Generator, count: int, object_set: str) -> list[ObjectModel]:
    """``count`` distinct objects of ``object_set`` ('seen' or 'novel'), families uniform."""
    if object_set not in OBJECT_SETS:
        raise ValueError(f"object set {object_set!r} is not one of {', '.join(OBJECT_SETS)}")
    indices = OBJECT_SETS[object_set]
    chosen: dict[str, ObjectModel] = {}
    while len(chosen) < count:
        family = FAMILIES[rng.integers(len(FAMILIES))]
        try:
            model = object_model(family, int(rng.choice(indices)))
        except BrokenMeshError:
            continue
        chosen[model.name] = model
    return list(chosen.values())
