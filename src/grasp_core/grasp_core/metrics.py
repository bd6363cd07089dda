"""Offline grasp-detection metrics: the rectangle metric, its threshold grid and IoU-Avg.

Rectangle metric (001_46d8de72c73efe9f.txt, sec. VI-A, eq. 11; 004_b952421ab3ddfc5d.txt,
sec. IV-A): a predicted grasp is correct if for ANY ground-truth rectangle the angle
difference is within 30 deg and the IoU of the rectangles exceeds 0.25. Both comparisons
are strict here (IoU > threshold, angle difference < threshold).

Instance-wise variant (000_82e8763e29e0cd96.txt, sec. IV, conditions (i)-(iii)): in addition
"the predicted class label of the grasp candidate is correct", i.e. pred.label == gt.label.
The paper asks for the class only; instance ids are not compared, because a model's instance
ids number its own detections and are not those of the annotation.

IoU-Avg (004_b952421ab3ddfc5d.txt, sec. V-A, "The average IoU is also included to display
performance across all thresholds", and the "Avg" column of its Table II): the paper gives
no formula. We take, per image, the best IoU of the predicted grasp with a ground truth
within the angle threshold (0 if there is none), averaged over images. That is the area
under the accuracy-versus-IoU-threshold curve, i.e. performance across all thresholds, and
it fits Table II: integrating GG-CNN2/binary's 93.98 / 92.33 / 79.61 / 30.21 % at IoU 25 /
30 / 50 / 75 % by trapezoids (0 % at IoU 1) gives about 63 % against the reported 62.46 %
(GR-ConvNet/binary: 66 % against 65.57 %), whereas the mean of the four would be 74 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grasp_core.geometry import ANGLE, angle_difference, grasps_to_array, paired_iou
from grasp_core.grasp import ImageGrasp

IOU_THRESHOLDS = (0.25, 0.30, 0.50, 0.75)
ANGLE_THRESHOLDS_DEG = (30, 25, 20, 15, 10, 5)
DEFAULT_ANGLE_THRESHOLD_RAD = math.radians(30)


@dataclass(frozen=True)
class _Pairs:
    """Every (prediction, ground truth) pair of a batch of trials, flattened.

    A trial is one set of candidate predictions scored against one set of ground truths (an
    image, or an image's objects of one class). iou is only computed for pairs within
    max_angle_rad of each other; the others are left at 0, which no metric here can use.
    """

    trial: np.ndarray
    iou: np.ndarray
    angle_diff: np.ndarray
    same_label: np.ndarray
    n_trials: int

    @classmethod
    def of(
        cls,
        candidates: Sequence[Sequence[ImageGrasp]],
        gts: Sequence[Sequence[ImageGrasp]],
        max_angle_rad: float,
    ) -> _Pairs:
        pred_rows, gt_rows, trials, pred_labels, gt_labels = [], [], [], [], []
        for index, (preds, truths) in enumerate(zip(candidates, gts, strict=True)):
            p, g = grasps_to_array(preds), grasps_to_array(truths)
            pred_rows.append(np.repeat(p, len(g), axis=0))
            gt_rows.append(np.tile(g, (len(p), 1)))
            trials.append(np.full(len(p) * len(g), index))
            pred_labels += [x.label for x in preds for _ in truths]
            gt_labels += [y.label for _ in preds for y in truths]
        a = np.concatenate(pred_rows) if pred_rows else np.empty((0, 5))
        b = np.concatenate(gt_rows) if gt_rows else np.empty((0, 5))
        angle_diff = np.asarray(angle_difference(a[:, ANGLE], b[:, ANGLE]))
        iou = np.zeros(len(a))
        near = angle_diff < max_angle_rad
        iou[near] = paired_iou(a[near], b[near])
        return cls(
            trial=np.concatenate(trials) if trials else np.empty(0, dtype=int),
            iou=iou,
            angle_diff=angle_diff,
            same_label=np.array(pred_labels, dtype=object) == np.array(gt_labels, dtype=object),
            n_trials=len(candidates),
        )


@dataclass(frozen=True)
class RectangleMetric:
    """The rectangle metric: IoU > iou_threshold and angle difference < angle_threshold_rad
    with any ground truth; instance_wise also requires the ground truth's label (see the
    module docstring for the sources)."""

    iou_threshold: float = 0.25
    angle_threshold_rad: float = DEFAULT_ANGLE_THRESHOLD_RAD
    instance_wise: bool = False

    def _success(self, pairs: _Pairs) -> np.ndarray:
        """Per trial: some candidate matches some ground truth."""
        ok = (pairs.iou > self.iou_threshold) & (pairs.angle_diff < self.angle_threshold_rad)
        if self.instance_wise:
            ok &= pairs.same_label
        return np.bincount(pairs.trial[ok], minlength=pairs.n_trials) > 0

    def matches(self, pred: ImageGrasp, gts: Sequence[ImageGrasp]) -> bool:
        """The prediction matches at least one of the ground-truth grasps."""
        return bool(self._success(_Pairs.of([[pred]], [gts], self.angle_threshold_rad))[0])


def _best_iou(pairs: _Pairs, angle_threshold_rad: float, instance_wise: bool) -> np.ndarray:
    """Per trial: the best IoU of a pair within the angle threshold, 0 if there is none."""
    usable = pairs.angle_diff < angle_threshold_rad
    if instance_wise:
        usable &= pairs.same_label
    best = np.zeros(pairs.n_trials)
    np.maximum.at(best, pairs.trial[usable], pairs.iou[usable])
    return best


def iou_avg(
    pred: ImageGrasp,
    gts: Sequence[ImageGrasp],
    angle_threshold_rad: float = DEFAULT_ANGLE_THRESHOLD_RAD,
    instance_wise: bool = False,
) -> float:
    """One image's IoU-Avg term: the best IoU of pred with a ground truth whose angle differs
    by less than angle_threshold_rad (and, instance_wise, of pred's label); 0 if none. The
    IoU-Avg score is its mean over images (see the module docstring)."""
    pairs = _Pairs.of([[pred]], [gts], angle_threshold_rad)
    return float(_best_iou(pairs, angle_threshold_rad, instance_wise)[0])


def accuracy_key(iou_threshold: float, angle_threshold_deg: float) -> str:
    """Key of EvaluationResult.accuracy, e.g. 'rect_acc_25_30' for IoU 25 %, 30 deg."""
    return f"rect_acc_{round(iou_threshold * 100)}_{round(angle_threshold_deg)}"


@dataclass(frozen=True)
class EvaluationResult:
    """Scores over a set of images, all fractions in 0..1.

    accuracy: the rectangle metric's success rate per accuracy_key for every pair of
    IOU_THRESHOLDS x ANGLE_THRESHOLDS_DEG. iou_avg: mean IoU-Avg term (30 deg). per_class:
    success rate at IoU 0.25 / 30 deg per ground-truth label, over the (image, label)
    pairs where that label is annotated. num_images: how many images were scored.
    """

    accuracy: dict[str, float]
    iou_avg: float
    per_class: dict[str, float]
    num_images: int


def _top(preds: Sequence[ImageGrasp], k: int) -> list[ImageGrasp]:
    return sorted(preds, key=lambda g: -g.quality)[:k]


def evaluate(
    predictions: Sequence[Sequence[ImageGrasp]],
    ground_truths: Sequence[Sequence[ImageGrasp]],
    top_k: int = 1,
    instance_wise: bool = False,
) -> EvaluationResult:
    """Score per-image predictions against per-image ground-truth grasps.

    An image succeeds if any of its top_k predictions by quality matches (an image with no
    prediction fails); its IoU-Avg term is the best over those top_k. per_class follows
    001_46d8de72c73efe9f.txt (sec. VI-D, the Jaccard index "for each graspable object class
    in the scene"): for each label L annotated in an image, the candidates are the image's
    top_k predictions, or with instance_wise the top_k predictions labelled L (the best
    grasp per class), scored against that image's ground truths labelled L.
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"{len(predictions)} prediction lists for {len(ground_truths)} ground-truth lists"
        )
    if not predictions:
        raise ValueError("no images to evaluate")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    widest = math.radians(max(ANGLE_THRESHOLDS_DEG))

    candidates = [_top(preds, top_k) for preds in predictions]
    pairs = _Pairs.of(candidates, ground_truths, widest)
    accuracy = {
        accuracy_key(iou, deg): float(
            RectangleMetric(iou, math.radians(deg), instance_wise)._success(pairs).mean()
        )
        for iou in IOU_THRESHOLDS
        for deg in ANGLE_THRESHOLDS_DEG
    }
    best = _best_iou(pairs, DEFAULT_ANGLE_THRESHOLD_RAD, instance_wise)

    class_labels, class_candidates, class_gts = [], [], []
    for preds, top, truths in zip(predictions, candidates, ground_truths, strict=True):
        for label in sorted({g.label for g in truths}):
            class_labels.append(label)
            mine = _top([p for p in preds if p.label == label], top_k) if instance_wise else top
            class_candidates.append(mine)
            class_gts.append([g for g in truths if g.label == label])
    class_pairs = _Pairs.of(class_candidates, class_gts, widest)
    class_success = RectangleMetric(instance_wise=instance_wise)._success(class_pairs)
    labels = np.array(class_labels, dtype=object)
    per_class = {
        label: float(class_success[labels == label].mean()) for label in sorted(set(class_labels))
    }
    return EvaluationResult(
        accuracy=accuracy,
        iou_avg=float(best.mean()),
        per_class=per_class,
        num_images=len(predictions),
    )
