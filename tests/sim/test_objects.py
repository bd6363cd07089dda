"""The object catalogue: deterministic, household-sized, split into seen and novel."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_sim.objects import FAMILIES, NOVEL_FROM, object_model, sample_objects


def _extent(model) -> float:
    """Largest size of an object's bounding box, m (parts' own extents, ignoring rotation)."""
    corners = []
    for part in model.parts:
        if part.kind == "mesh":
            corners += [part.vertices.min(0), part.vertices.max(0)]
        else:
            half = {"box": part.size, "sphere": part.size * 3}.get(
                part.kind, (part.size[0], part.size[0], part.size[-1] + part.size[0])
            )
            corners += [np.subtract(part.pos, half), np.add(part.pos, half)]
    corners = np.array(corners)
    return float((corners.max(0) - corners.min(0)).max())


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_builds_household_sized_objects(family: str) -> None:
    for index in (0, 1, NOVEL_FROM + 3):
        model = object_model(family, index)
        assert model.family == family and model.parts
        assert 0.025 < _extent(model) < 0.25


def test_an_object_is_the_same_every_time() -> None:
    a = object_model("mug", 17)
    object_model.cache_clear()
    b = object_model("mug", 17)
    assert [(p.kind, p.size, p.pos) for p in a.parts] == [(p.kind, p.size, p.pos) for p in b.parts]
    assert object_model("mug", 18).parts != a.parts


def test_seen_and_novel_objects_never_overlap() -> None:
    rng = np.random.default_rng(0)
    seen = {m.name for _ in range(20) for m in sample_objects(rng, 10, "seen")}
    novel = {m.name for _ in range(20) for m in sample_objects(rng, 10, "novel")}
    assert seen.isdisjoint(novel)
    assert all(int(name.rsplit("_", 1)[1]) < NOVEL_FROM for name in seen)
    assert all(int(name.rsplit("_", 1)[1]) >= NOVEL_FROM for name in novel)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="object set"):
        sample_objects(np.random.default_rng(0), 3, "unseen")
    with pytest.raises(ValueError, match="outside"):
        object_model("box", 1000)
