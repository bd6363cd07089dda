"""`grasp generate`: simulated table scenes written as a labelled RGB-D grasp dataset."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from grasp_core.camera import D435_COLOR_640X480, CameraIntrinsics
from grasp_core.datasets.generated import sample_name, write_info, write_sample
from grasp_core.datasets.sample import Sample
from grasp_sim.labels import LabelParams, label_grasps
from grasp_sim.noise import add_depth_noise
from grasp_sim.objects import FAMILIES, sample_objects
from grasp_sim.scene import TableScene, sample_camera_pose


@dataclass(frozen=True)
class GenerateConfig:
    """scenes: how many tables. max_objects: each table gets 1..max_objects objects.
    object_set: 'seen' or 'novel'. seed: everything follows from it. views: images per
    table, each from its own camera pose."""

    scenes: int
    max_objects: int
    object_set: str
    seed: int
    views: int = 2
    intrinsics: CameraIntrinsics = D435_COLOR_640X480
    label_params: LabelParams = field(default_factory=LabelParams)


def scene_rng(seed: int, scene: int) -> np.random.Generator:
    """The generator of one scene: the same whichever worker or order renders it."""
    return np.random.default_rng([seed, scene])


def render_scene(config: GenerateConfig, scene: int) -> list[tuple[Sample, dict]]:
    """The labelled views of table ``scene``: samples named by image index, camera info."""
    rng = scene_rng(config.seed, scene)
    objects = sample_objects(rng, int(rng.integers(1, config.max_objects + 1)), config.object_set)
    table = TableScene(objects, rng, config.intrinsics)
    try:
        table.settle()
        present = table.on_table()
        labels = {k + 1: obj.family for k, obj in enumerate(objects) if present[k]}
        out = []
        for view in range(config.views):
            frame = table.render(sample_camera_pose(rng))
            mask = np.where(np.isin(frame.instance_mask, list(labels)), frame.instance_mask, 0)
            grasps = label_grasps(
                frame.depth, mask, frame.intrinsics, labels, params=config.label_params
            )
            sample = Sample(
                name=sample_name(scene * config.views + view),
                rgb=frame.rgb,
                depth=add_depth_noise(frame.depth, rng),
                grasps=tuple(grasps),
                instance_mask=mask,
                labels=labels,
            )
            camera = {
                "camera_to_world": frame.camera.matrix().tolist(),
                "objects": [obj.name for obj in objects],
                "scene": scene,
            }
            out.append((sample, camera))
        return out
    finally:
        table.close()


def _render_and_write(config: GenerateConfig, scene: int, out: Path) -> int:
    views = render_scene(config, scene)
    for sample, camera in views:
        write_sample(out, sample, camera)
    return sum(len(sample.grasps) for sample, _ in views)


def generate(config: GenerateConfig, out: Path, workers: int = 1) -> dict[str, float]:
    """Write the dataset into ``out``; returns images, grasps and images/s."""
    k = config.intrinsics
    write_info(
        out,
        {
            "classes": list(FAMILIES),
            "object_set": config.object_set,
            "seed": config.seed,
            "scenes": config.scenes,
            "max_objects": config.max_objects,
            "views": config.views,
            "intrinsics": {
                "fx": k.fx,
                "fy": k.fy,
                "cx": k.cx,
                "cy": k.cy,
                "width": k.width,
                "height": k.height,
            },
        },
    )
    start = time.perf_counter()
    grasps = 0
    bar = tqdm(total=config.scenes, desc="scenes", unit="scene")
    if workers <= 1:
        for scene in range(config.scenes):
            grasps += _render_and_write(config, scene, out)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_render_and_write, config, s, out) for s in range(config.scenes)]
            try:
                for future in futures:
                    grasps += future.result()
                    bar.update()
            except BaseException:
                # Ctrl-C or a failed scene: the scenes under way finish, queued ones are
                # dropped, so the stop takes seconds rather than the whole run.
                pool.shutdown(cancel_futures=True)
                raise
    bar.close()
    seconds = time.perf_counter() - start
    images = config.scenes * config.views
    return {
        "images": images,
        "grasps": grasps,
        "seconds": seconds,
        "images_per_s": images / seconds,
    }
