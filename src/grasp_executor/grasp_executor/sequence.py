"""The pick sequence and the table-clearing loop, independent of ROS and of the motion
backend, so the same logic drives a simulated arm in tests and a real one behind the node.

A pick tries the candidates best first: a candidate the arm cannot reach is skipped, a grasp
that closes on nothing (gripper opening below ``holding_min_m``) backs out and retries the
next candidate, and a dropped object fails the attempt; an object still in the hand when a
pick starts is shaken out over the place before the pick gives up. Poses are 4x4 grasp
frames in the base frame (grasp_core.pose), m.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

import numpy as np

from grasp_executor.planning import PlanningError


class Stage(IntEnum):
    """Where a pick is; the values are grasp_interfaces/PickStage's."""

    DETECTING = 0
    PLANNING = 1
    APPROACHING = 2
    GRASPING = 3
    LIFTING = 4
    PLACING = 5
    RETREATING = 6
    DONE = 7


class Cancelled(Exception):
    """The goal was cancelled or preempted; the backend has already stopped the arm."""


class MotionBackend(Protocol):
    """What a pick needs from an arm: plan, run the plan's segments, and the gripper."""

    def plan(self, grasp: np.ndarray, width: float, place: np.ndarray) -> Any:
        """A plan of SEGMENTS for this grasp (width m) and place position (m); raises
        PlanningError when unreachable."""

    def move(self, plan: Any, segment: str) -> None:
        """Run one segment of ``plan`` to its end; raises Cancelled."""

    def grip(self, opening: float) -> float:
        """Command the gripper opening (m) and return the measured one once it settles."""

    def opening(self, plan: Any) -> float:
        """The opening (m) before closing on the plan's grasp."""

    def shake_out(self, place: np.ndarray) -> None:
        """Carry the (open) gripper from where the arm stands to ``place`` (m, base frame),
        turn it through the release turns there and go home; raises PlanningError when the
        arm cannot, Cancelled."""


@dataclass(frozen=True)
class Candidate:
    """A grasp to try: pose 4x4 (base frame), width and quality as in grasp_interfaces/Grasp."""

    pose: np.ndarray
    width: float
    quality: float
    label: str = ""
    source: Any = None  # the message it came from, returned in outcomes


@dataclass
class Attempt:
    """The outcome of one pick attempt (grasp_interfaces/PickOutcome)."""

    success: bool
    message: str
    stage: Stage
    candidate: Candidate | None = None
    duration: float = 0.0
    blocked: bool = False  # no further pick can succeed until a person intervenes
    moved: bool = False  # the arm ran a grasp motion (else the scene is as it was)


@dataclass
class PickSequence:
    """Runs picks on a backend. report(stage) is called as each stage starts. The gripper
    holds an object when its measured opening exceeds holding_min_m (m); max_candidates
    bounds how many grasps of one detection are tried. Grasps wider than max_opening -
    tight_fit_m (m; the transform caps wider ones at max_opening; 0: none) are tried after
    the others: an object that barely fits the gripper can wedge between the fingers and stay
    there when they open, which ends a table clean, so what fits easily goes first. An
    object found in the hand before a pick is shaken out over the place up to ``shakes``
    times before the pick gives up."""

    backend: MotionBackend
    max_opening: float
    report: Callable[[Stage], None] = lambda stage: None
    holding_min_m: float = 0.004
    max_candidates: int = 5
    tight_fit_m: float = 0.0
    shakes: int = 2
    failed: list[np.ndarray] = field(default_factory=list)  # grasp poses that failed

    def pick(self, candidates: Sequence[Candidate], place: np.ndarray) -> Attempt:
        """Pick the first candidate that can be reached and held; Cancelled propagates.

        Grasps that failed earlier in this sequence's life are not tried again: the scene
        rarely changes after a failed grasp, so the detector proposes the same grasp again,
        and retrying it would only repeat the failure.
        """
        start = time.monotonic()
        reasons: list[str] = []
        moved = False
        # An object left between the fingers (wedged at the last place) would make every
        # later grasp look like a hold; an empty hand must close fully.
        if self.backend.grip(0.0) > self.holding_min_m and (stuck := self._free_hand(place)):
            return Attempt(
                False, f"the gripper does not close: an object is stuck in it ({stuck})",
                Stage.GRASPING, None, time.monotonic() - start, blocked=True,
            )  # fmt: skip
        fresh = [c for c in candidates if not any(same_grasp(c.pose, f) for f in self.failed)]
        fresh.sort(key=lambda c: c.width > self.max_opening - self.tight_fit_m)  # stable
        if candidates and not fresh:
            return Attempt(
                False, "every detected grasp already failed once", Stage.PLANNING, None,
                time.monotonic() - start,
            )  # fmt: skip
        self.report(Stage.PLANNING)
        for rank, candidate in enumerate(fresh[: self.max_candidates], start=1):
            try:
                plan = self.backend.plan(candidate.pose, candidate.width, place)
            except PlanningError as err:
                reasons.append(f"grasp {rank}: {err}")
                continue
            attempt = self._execute(plan, candidate)
            moved = True
            if attempt is None or not attempt.success:
                self.failed.append(candidate.pose)
            if attempt is not None:
                attempt.duration, attempt.moved = time.monotonic() - start, True
                return attempt
            reasons.append(f"grasp {rank}: the gripper closed on nothing")
            self.report(Stage.PLANNING)
        message = "; ".join(reasons) if reasons else "no grasp candidates"
        return Attempt(False, message, Stage.PLANNING, None, time.monotonic() - start, moved=moved)

    def _free_hand(self, place: np.ndarray) -> str:
        """Shake the object in the hand out over the place until the gripper closes fully,
        up to self.shakes times: "" when it did, else why not, with the gripper left open.
        (Checking the hand right after each release instead closes the fingers on objects
        that hang loosely there and would fall off on the way home: on 20 simulated UR5
        tables that turned a cleared table into a stopped one.)"""
        if self.shakes:
            self.report(Stage.PLACING)  # what a client sees: the arm goes to the place
        why = f"{self.shakes} shakes over the place did not free it"
        for _ in range(self.shakes):
            self.backend.grip(self.max_opening)
            try:
                self.backend.shake_out(place)
            except PlanningError as err:
                why = f"no shake over the place: {err}"
                break
            if self.backend.grip(0.0) <= self.holding_min_m:
                return ""
        self.backend.grip(self.max_opening)
        return why

    def _execute(self, plan: Any, candidate: Candidate) -> Attempt | None:
        """Run a plan; None when the gripper closed on nothing (it has backed out)."""
        backend = self.backend
        self.report(Stage.APPROACHING)
        backend.grip(backend.opening(plan))
        backend.move(plan, "to_pregrasp")
        backend.move(plan, "approach")
        self.report(Stage.GRASPING)
        if backend.grip(0.0) < self.holding_min_m:
            backend.grip(backend.opening(plan))
            backend.move(plan, "back_out")
            return None
        self.report(Stage.LIFTING)
        backend.move(plan, "lift")
        if backend.grip(0.0) < self.holding_min_m:
            self.report(Stage.RETREATING)
            backend.grip(self.max_opening)
            backend.move(plan, "lift_to_home")
            return Attempt(False, "the object slipped out while lifting", Stage.LIFTING, candidate)
        self.report(Stage.PLACING)
        backend.move(plan, "to_place")
        backend.grip(self.max_opening)
        self.report(Stage.RETREATING)
        backend.move(plan, "release")
        backend.move(plan, "to_home")
        self.report(Stage.DONE)
        return Attempt(True, f"picked {candidate.label or 'an object'}", Stage.DONE, candidate)


def same_grasp(
    a: np.ndarray, b: np.ndarray, distance_m: float = 0.02, angle_rad: float = 0.35
) -> bool:
    """Whether two grasp poses (4x4, base frame) are the same grasp: origins within
    distance_m, approach axes and closing axes within angle_rad, a closing axis and its
    reverse being the same (the jaws are symmetric)."""
    if np.linalg.norm(a[:3, 3] - b[:3, 3]) > distance_m:
        return False
    cos = np.cos(angle_rad)
    return bool(a[:3, 2] @ b[:3, 2] >= cos and abs(a[:3, 0] @ b[:3, 0]) >= cos)


@dataclass
class CleanResult:
    picked: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    message: str = ""


def clean_table(
    detect: Callable[[], Sequence[Candidate]],
    pick: Callable[[Sequence[Candidate]], Attempt],
    max_objects: int = 0,
    max_consecutive_failures: int = 5,
    on_attempt: Callable[[Attempt], None] = lambda attempt: None,
) -> CleanResult:
    """Detect, pick, repeat: stops when nothing graspable remains, after max_objects picks
    (0: no limit), after max_consecutive_failures failed attempts in a row, when an attempt
    reports the robot blocked, or when a pick found nothing to try (every grasp unreachable
    or already failed): the arm did not move, so detecting again would find the same.
    Only picks in which the arm moved are attempts."""
    result = CleanResult()
    failures = 0
    while True:
        if max_objects and result.picked >= max_objects:
            result.message = f"picked the requested {max_objects} object(s)"
            return result
        candidates = detect()
        if not candidates:
            result.message = "nothing graspable detected on the table"
            return result
        attempt = pick(candidates)
        if not (attempt.moved or attempt.blocked):
            result.message = f"stopped, nothing left to try: {attempt.message}"
            return result
        result.attempts.append(attempt)
        on_attempt(attempt)
        result.picked += attempt.success
        if attempt.blocked:
            result.message = f"stopped: {attempt.message}"
            return result
        failures = 0 if attempt.success else failures + 1
        if failures >= max_consecutive_failures:
            result.message = f"stopped after {failures} failed attempts in a row"
            return result
