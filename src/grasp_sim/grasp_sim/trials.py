"""Simulated grasp trials, the benchmark protocol of 002_a78fe279f064600a.txt (sec. III-E).

A free-floating parallel gripper executes a model's grasps on simulated tables:

- success rate (SR) and percent cleared (PC): each table is cleared with the top-ranked
  grasp of a fresh image until no object is left or 5 grasps in a row fail; SR = lifts /
  attempts, PC = objects lifted / objects placed, both over all tables;
- AP: the top-50 grasps of the first image are each executed from the same initial table
  (reset in between); AP = the share of them that lift an object.

A grasp is the model's image grasp turned into a 6-DoF pose along the camera axis
(grasp_core.pose); it succeeds when an object rises with the gripper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np
from tqdm import tqdm

from grasp_core.camera import CameraIntrinsics
from grasp_core.grasp import ImageGrasp
from grasp_core.pose import grasp_pose_in_camera
from grasp_core.preprocess import InputError
from grasp_core.serving import GraspPredictor, InstancePredictor
from grasp_sim.gripper import FloatingGripper, gripper_xml
from grasp_sim.noise import add_depth_noise
from grasp_sim.objects import sample_objects
from grasp_sim.scene import Frame, TableScene, sample_camera_pose


@dataclass(frozen=True)
class TrialConfig:
    """scenes: tables. objects: objects per table. object_set: 'seen' or 'novel'.
    max_failures: consecutive failed grasps that end a table (002: 5). grasp_depth: how
    far past the seen surface the fingertips go, m. clearance: lowest fingertip height
    above the table, m (the workspace limit). lift: lift height, m. opening_margin: added
    to the predicted width when the gripper opens, m, as GripperSpec.opening_margin (the
    trials' figures were measured with 0.01). ap_grasps: grasps ranked for AP (002: 50)."""

    scenes: int
    objects: int
    object_set: str = "novel"
    seed: int = 0
    max_failures: int = 5
    grasp_depth: float = 0.02
    clearance: float = 0.004
    lift: float = 0.15
    pregrasp: float = 0.1
    opening_margin: float = 0.01
    ap_grasps: int = 50


@dataclass
class TrialResult:
    """Counts over all tables and the metrics built from them (fractions 0..1)."""

    attempts: int = 0
    successes: int = 0
    objects: int = 0
    cleared: int = 0
    ap_attempts: int = 0
    ap_successes: int = 0
    per_scene: list[dict[str, int]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """success_rate, percent_cleared and ap50 (0 where nothing was tried)."""
        return {
            "success_rate": self.successes / self.attempts if self.attempts else 0.0,
            "percent_cleared": self.cleared / self.objects if self.objects else 0.0,
            "ap50": self.ap_successes / self.ap_attempts if self.ap_attempts else 0.0,
            "attempts": self.attempts,
            "objects": self.objects,
        }


class TrialTable:
    """One simulated table with a gripper, a fixed camera and grasp execution."""

    def __init__(self, config: TrialConfig, scene: int, intrinsics: CameraIntrinsics) -> None:
        self.config = config
        self.rng = np.random.default_rng([config.seed, scene, 7])
        objects = sample_objects(self.rng, config.objects, config.object_set)
        bodies, sections = gripper_xml()
        self.scene = TableScene(objects, self.rng, intrinsics, bodies, sections)
        self.gripper = FloatingGripper(self.scene)
        self.gripper.park()
        self.scene.settle()
        self.camera = sample_camera_pose(self.rng)
        self.initial = self._state()

    def _state(self) -> tuple[np.ndarray, ...]:
        d = self.scene.data
        return (
            d.qpos.copy(),
            d.mocap_pos.copy(),
            d.mocap_quat.copy(),
            self.scene.model.body_gravcomp.copy(),
        )

    def reset(self) -> None:
        """Back to the table as it was after settling."""
        d, m = self.scene.data, self.scene.model
        d.qpos[:], d.mocap_pos[:], d.mocap_quat[:], m.body_gravcomp[:] = self.initial
        d.qvel[:] = 0.0
        d.ctrl[:] = 0.0
        mujoco.mj_forward(m, d)

    def look(self) -> tuple[Frame, np.ndarray]:
        """A camera frame and its depth with camera noise."""
        frame = self.scene.render(self.camera)
        return frame, add_depth_noise(frame.depth, self.rng)

    def execute(self, grasp: ImageGrasp, depth: np.ndarray, frame: Frame) -> int:
        """Run one grasp; lifted objects leave the table. Returns how many were lifted."""
        c = self.config
        try:
            pose = grasp_pose_in_camera(grasp, depth, frame.intrinsics, c.grasp_depth)
        except InputError:
            return 0
        pose = pose.transformed(frame.camera.matrix(), "world")
        position = pose.position.copy()
        position[2] = max(position[2], c.clearance)
        approach = pose.rotation[:, 2]
        before = self.scene.object_positions()[:, 2]
        self.gripper.open(pose.width + c.opening_margin)
        self.gripper.place(position - c.pregrasp * approach, pose.rotation)
        self.gripper.move_to(position, pose.rotation)
        self.gripper.close()
        self.gripper.move_to(position + np.array([0.0, 0.0, c.lift]), pose.rotation)
        self.scene.step(0.3)
        lifted = np.nonzero(self.scene.object_positions()[:, 2] - before > c.lift / 3)[0]
        for index in lifted:
            self.scene.remove(int(index))
        self.gripper.park()
        self.scene.step(0.3)
        return len(lifted)

    def close(self) -> None:
        self.scene.close()


def run_trials(
    predictor: GraspPredictor | InstancePredictor,
    config: TrialConfig,
    intrinsics: CameraIntrinsics,
) -> TrialResult:
    """SR / PC / AP of ``predictor`` over config.scenes tables (see the module docstring)."""
    result = TrialResult()
    for scene in tqdm(range(config.scenes), desc="tables", unit="table"):
        table = TrialTable(config, scene, intrinsics)
        try:
            present = int(table.scene.on_table().sum())
            attempts = successes = failures = cleared = 0
            while table.scene.on_table().any() and failures < config.max_failures:
                frame, depth = table.look()
                grasps = predictor.predict(frame.rgb, depth).grasps
                lifted = table.execute(grasps[0], depth, frame) if grasps else 0
                attempts += 1
                successes += lifted > 0
                cleared += lifted
                failures = 0 if lifted else failures + 1
            table.reset()
            frame, depth = table.look()
            ranked = predictor.predict(frame.rgb, depth).grasps[: config.ap_grasps]
            ap_successes = 0
            for grasp in ranked:
                table.reset()
                ap_successes += table.execute(grasp, depth, frame) > 0
            result.attempts += attempts
            result.successes += successes
            result.objects += present
            result.cleared += cleared
            result.ap_attempts += len(ranked)
            result.ap_successes += ap_successes
            result.per_scene.append(
                {
                    "objects": present,
                    "attempts": attempts,
                    "successes": successes,
                    "cleared": cleared,
                    "ap_grasps": len(ranked),
                    "ap_lifted": ap_successes,
                }
            )
        finally:
            table.close()
    return result
