"""`grasp generate`: deterministic labelled datasets in the generated format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grasp_core.cli import main
from grasp_core.datasets import open_dataset
from grasp_sim.generate import GenerateConfig, generate
from grasp_sim.objects import FAMILIES


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    assert (
        main(["generate", "--out", str(out), "--scenes", "2", "--objects", "4", "--seed", "3"]) == 0
    )
    return out


def test_generate_writes_a_readable_labelled_dataset(dataset_dir: Path) -> None:
    data = open_dataset(str(dataset_dir))
    assert len(data) == 4  # 2 tables x 2 views
    assert data.classes == FAMILIES
    # An oblique view of only hard objects (a mug on its side, an upside-down bowl, a
    # cylinder cut by the border) can hold no grasp; most views hold many.
    assert sum(len(sample.grasps) > 20 for sample in data) >= 3
    for sample in data:
        assert sample.rgb.shape == (480, 640, 3) and sample.depth.shape == (480, 640)
        ids = np.unique(sample.instance_mask)
        assert set(sample.labels) >= set(ids[ids > 0])
        for g in sample.grasps:
            # The jaws close on the grasp's own instance. Its centre can lie off it: the
            # centre is the middle of the object's span, which for a mug on its side can
            # be the gap between body and handle.
            t = np.linspace(-g.width / 2, g.width / 2, 64)
            u = np.rint(g.u + t * np.cos(g.angle)).astype(int).clip(0, 639)
            v = np.rint(g.v - t * np.sin(g.angle)).astype(int).clip(0, 479)
            assert (sample.instance_mask[v, u] == g.instance_id).any()
            assert g.label == sample.labels[g.instance_id]
        # Camera-like depth: mostly measured, some holes, table about 0.5-1 m away.
        assert 0.0 < (sample.depth == 0).mean() < 0.3
        assert 0.3 < np.median(sample.depth[sample.depth > 0]) < 1.1


def test_the_same_seed_gives_the_same_files(dataset_dir: Path, tmp_path: Path) -> None:
    generate(GenerateConfig(scenes=1, max_objects=4, object_set="seen", seed=3), tmp_path)
    for name in ("depth/000000.png", "grasps/000001.txt", "instance/000001.png", "rgb/000000.png"):
        assert (tmp_path / name).read_bytes() == (dataset_dir / name).read_bytes(), name


def test_novel_tables_hold_only_novel_objects(tmp_path: Path) -> None:
    generate(GenerateConfig(scenes=1, max_objects=3, object_set="novel", seed=0, views=1), tmp_path)
    import json

    camera = json.loads((tmp_path / "camera/000000.json").read_text())
    assert all(int(name.rsplit("_", 1)[1]) >= 800 for name in camera["objects"])


def test_an_interrupted_generation_stops_and_leaves_a_readable_dataset(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "grasp_core.cli", "generate", "--out", str(out)]
    cmd += ["--scenes", "200", "--objects", "3", "--workers", "2"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for the first written sample, then stop it as Ctrl-C or `timeout` would.
        while not any((out / "grasps").glob("*.txt")):
            assert process.poll() is None, "generation ended before writing anything"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        # The queued scenes (about 190 of them, minutes of work) are dropped: only the
        # scenes under way finish.
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    data = open_dataset(str(out))
    assert 0 < len(data) < 400
    assert process.returncode == 130
    assert f"stopped: {len(data)} images written" in stderr and "Traceback" not in stderr
    for sample in data:
        assert sample.rgb.shape == (480, 640, 3) and sample.labels
