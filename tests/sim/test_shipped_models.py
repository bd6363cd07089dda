"""The models in models/ load as served and point at objects on tables they never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grasp_core.camera import D435_COLOR_640X480 as K
from grasp_core.serving import GraspPredictor, InstancePredictor, open_predictor
from grasp_sim.noise import add_depth_noise
from grasp_sim.objects import ObjectModel, sample_objects
from grasp_sim.scene import Frame, TableScene, sample_camera_pose

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.onnx"))
SSG = Path(__file__).resolve().parents[2] / "models" / "ssg.onnx"
PIXEL_WISE = [p for p in MODELS if p != SSG]


def novel_table(seed: int) -> tuple[list[ObjectModel], Frame, np.ndarray]:
    """Objects, rendered frame and noisy depth (m) of a 5-object table of novel objects."""
    rng = np.random.default_rng([seed, 99])
    objects = sample_objects(rng, 5, "novel")
    scene = TableScene(objects, rng, K)
    scene.settle()
    frame = scene.render(sample_camera_pose(rng))
    scene.close()
    return objects, frame, add_depth_noise(frame.depth, rng)


def test_the_stack_ships_its_pixel_wise_and_instance_wise_models() -> None:
    assert {p.name for p in MODELS} >= {"grconvnet.onnx", "ggcnn2.onnx", "ssg.onnx"}
    for path in MODELS:
        assert path.with_suffix(".md").is_file(), f"{path.name} has no model card"


@pytest.mark.parametrize("path", PIXEL_WISE, ids=lambda p: p.stem)
def test_top_grasps_land_on_novel_objects(path: Path) -> None:
    predictor = GraspPredictor(path)
    assert predictor.metadata.input_size == (224, 224)
    on_object = []
    for seed in range(6):
        _, frame, depth = novel_table(seed)
        grasps = predictor.predict(frame.rgb, depth).grasps
        top = grasps[0] if grasps else None
        on_object.append(top is not None and frame.instance_mask[round(top.v), round(top.u)] > 0)
    # An untrained or broken model puts its best grasp on the table most of the time.
    assert sum(on_object) >= 5, on_object


def test_ssg_top_detection_names_the_novel_object_it_grasps() -> None:
    predictor = open_predictor(SSG, threads=1)
    assert isinstance(predictor, InstancePredictor)
    assert predictor.metadata.input_size == (320, 320)
    named = []
    for seed in range(6):
        objects, frame, depth = novel_table(seed)
        grasps = predictor.predict(frame.rgb, depth).grasps
        top = grasps[0] if grasps else None
        index = 0 if top is None else int(frame.instance_mask[round(top.v), round(top.u)])
        # instance_mask holds object index + 1, so the object under the grasp gives its class.
        named.append(
            index > 0
            and top.label in predictor.metadata.classes
            and top.label == objects[index - 1].family
        )
    # Seven classes: an untrained model's label matches the object about once in seven.
    assert sum(named) >= 5, named


def test_sim_trials_serve_ssg_through_its_instance_predictor(tmp_path, capsys) -> None:
    from grasp_core.cli import main

    args = ["eval", "--model", str(SSG), "--sim-trials", "--objects", "2", "--scenes", "1"]
    assert main([*args, "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["attempts"] >= 1 and report["objects"] >= 1
    # A served SSG lifts objects; a predictor that found nothing would score 0 here.
    assert report["percent_cleared"] > 0.0, report
