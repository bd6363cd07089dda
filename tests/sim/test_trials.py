"""Simulated grasp trials: the floating gripper and 002's clearing protocol."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_core.camera import D435_COLOR_640X480 as K
from grasp_core.grasp import ImageGrasp
from grasp_core.serving import GraspPredictor
from grasp_sim.labels import label_grasps
from grasp_sim.trials import TrialConfig, TrialTable, run_trials
from tests.core.constant_model import constant_model, grconvnet_metadata


@pytest.fixture(scope="module")
def table() -> TrialTable:
    table = TrialTable(TrialConfig(scenes=1, objects=4, seed=11), 0, K)
    yield table
    table.close()


def test_labelled_grasps_lift_objects(table: TrialTable) -> None:
    # Labels and gripper agree: what the labeller accepts, the simulated gripper lifts.
    frame, _ = table.look()
    labels = {k + 1: obj.family for k, obj in enumerate(table.scene.objects)}
    grasps = label_grasps(frame.depth, frame.instance_mask, K, labels)
    picks = np.random.default_rng(0).choice(len(grasps), size=8, replace=False)
    lifted = []
    for i in picks:
        table.reset()
        lifted.append(table.execute(grasps[i], frame.depth, frame))
    assert np.mean(np.array(lifted) > 0) >= 0.75
    table.reset()


def test_a_grasp_on_the_bare_table_lifts_nothing(table: TrialTable) -> None:
    frame, _ = table.look()
    empty = np.argwhere(frame.instance_mask == 0)
    far = empty[np.argmax(np.linalg.norm(empty - np.array([240, 320]), axis=1))]
    v, u = (int(x) for x in far)
    before = table.scene.on_table().sum()
    assert table.execute(ImageGrasp(u, v, 0.0, 40.0, 20.0), frame.depth, frame) == 0
    assert table.scene.on_table().sum() == before
    table.reset()


def test_a_grasp_without_depth_fails_cleanly(table: TrialTable) -> None:
    frame, _ = table.look()
    no_depth = np.zeros_like(frame.depth)
    assert table.execute(ImageGrasp(320, 240, 0.0, 40.0, 20.0), no_depth, frame) == 0


def test_a_model_that_finds_nothing_stops_after_five_failures(tmp_path) -> None:
    # A real ONNX model whose quality map is zero everywhere: no grasp on any image.
    model = constant_model(tmp_path / "empty.onnx", grconvnet_metadata(), peak=0.0)
    result = run_trials(GraspPredictor(model), TrialConfig(scenes=2, objects=3, seed=1), K)
    assert result.attempts == 2 * 5
    assert result.metrics()["success_rate"] == 0.0
    assert result.metrics()["percent_cleared"] == 0.0
    assert result.objects == 6 and result.ap_attempts == 0


def test_the_eval_command_runs_sim_trials_and_prints_one_json_line(tmp_path, capsys) -> None:
    import json

    from grasp_core.cli import main

    model = constant_model(tmp_path / "empty.onnx", grconvnet_metadata(), peak=0.0)
    args = ["eval", "--model", str(model), "--sim-trials", "--objects", "2", "--scenes", "1"]
    assert main([*args, "--out", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["attempts"] == 5 and report["objects_per_table"] == 2
    assert report["success_rate"] == report["percent_cleared"] == report["ap50"] == 0.0
    assert (tmp_path / "out" / "sim_trials.json").is_file()
