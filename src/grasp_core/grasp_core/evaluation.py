"""Offline evaluation of a served model on a grasp dataset: `grasp eval`.

The model runs exactly as deployed (grasp_core.serving's GraspPredictor or, for an
instance-wise model, InstancePredictor, on the full camera image); its top grasp per image
is scored with the rectangle metric and IoU-Avg (grasp_core.metrics), and the worst images
are drawn for people to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from grasp_core.datasets import Dataset
from grasp_core.draw import background_bgr, draw_grasps
from grasp_core.geometry import grasp_to_corners
from grasp_core.grasp import ImageGrasp
from grasp_core.metrics import EvaluationResult, evaluate, iou_avg
from grasp_core.serving import GraspPredictor, InstancePredictor

GROUND_TRUTH_BGR = (255, 255, 255)


@dataclass(frozen=True)
class ImageScore:
    """One image's outcome: its name, IoU-Avg term (0..1) and the grasps compared."""

    name: str
    iou: float
    predicted: tuple[ImageGrasp, ...]
    truth: tuple[ImageGrasp, ...]


def draw_comparison(
    image: np.ndarray, truth: Sequence[ImageGrasp], predicted: Sequence[ImageGrasp]
) -> np.ndarray:
    """BGR picture: ground-truth rectangles as thin white outlines, predictions on top."""
    canvas = background_bgr(image)
    for g in truth:
        cv2.polylines(
            canvas,
            [np.round(grasp_to_corners(g)).astype(np.int32)],
            True,
            GROUND_TRUTH_BGR,
            1,
            cv2.LINE_AA,
        )
    return draw_grasps(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), predicted)


def evaluate_model(
    predictor: GraspPredictor | InstancePredictor,
    dataset: Dataset,
    top_k: int = 1,
    instance_wise: bool = False,
) -> tuple[EvaluationResult, list[ImageScore]]:
    """Scores of ``predictor`` over ``dataset`` and each image's outcome."""
    predictions, truths, scores = [], [], []
    for sample in tqdm(dataset, total=len(dataset), desc="images", unit="img"):
        # All of them: evaluate() scores the top_k, and instance-wise per-class accuracy
        # takes the best grasp of each class from the whole list.
        every = predictor.predict(sample.rgb, sample.depth).grasps
        grasps = every[:top_k]
        predictions.append(every)
        truths.append(sample.grasps)
        best = max(
            (iou_avg(g, sample.grasps, instance_wise=instance_wise) for g in grasps), default=0.0
        )
        scores.append(ImageScore(sample.name, best, tuple(grasps), sample.grasps))
    return evaluate(predictions, truths, top_k=top_k, instance_wise=instance_wise), scores


def write_worst(
    dataset: Dataset, scores: Sequence[ImageScore], out: Path, count: int
) -> list[Path]:
    """PNGs of the ``count`` images with the lowest IoU-Avg term into ``out``; ``scores``
    as evaluate_model returns them for ``dataset``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # scores are in dataset order, so an image's score and sample share an index.
    for i in np.argsort([s.iou for s in scores], kind="stable")[:count]:
        score, sample = scores[i], dataset[int(i)]
        path = (
            out / f"worst_{len(written):02d}_{score.name.replace('/', '_')}_iou{score.iou:.2f}.png"
        )
        cv2.imwrite(str(path), draw_comparison(sample.rgb, score.truth, score.predicted))
        written.append(path)
    return written
