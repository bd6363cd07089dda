"""The models in models/ load as served and point at objects on tables they never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grasp_core.camera import D435_COLOR_640X480 as K
from grasp_core.serving import GraspPredictor
from grasp_sim.noise import add_depth_noise
from grasp_sim.objects import sample_objects
from grasp_sim.scene import TableScene, sample_camera_pose

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.onnx"))


def test_the_stack_ships_its_two_pixel_wise_models() -> None:
    assert {p.name for p in MODELS} >= {"grconvnet.onnx", "ggcnn2.onnx"}
    for path in MODELS:
        assert path.with_suffix(".md").is_file(), f"{path.name} has no model card"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_top_grasps_land_on_novel_objects(path: Path) -> None:
    predictor = GraspPredictor(path)
    assert predictor.metadata.input_size == (224, 224)
    on_object = []
    for seed in range(6):
        rng = np.random.default_rng([seed, 99])
        scene = TableScene(sample_objects(rng, 5, "novel"), rng, K)
        scene.settle()
        frame = scene.render(sample_camera_pose(rng))
        scene.close()
        grasps = predictor.predict(frame.rgb, add_depth_noise(frame.depth, rng)).grasps
        top = grasps[0] if grasps else None
        on_object.append(top is not None and frame.instance_mask[round(top.v), round(top.u)] > 0)
    # An untrained or broken model puts its best grasp on the table most of the time.
    assert sum(on_object) >= 5, on_object
