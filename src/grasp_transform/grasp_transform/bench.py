"""Per-frame overhead of grasp_transform at 640x480: detections + depth + camera_info
messages in, base-frame GraspArray out (the model's time and DDS transport excluded), and
the MarkerArray built after it.

    python -m grasp_transform.bench [--grasps 1 10 50] [--repeats 200]

prints one line per grasp count: median and 95th percentile in ms of each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from grasp_camera.messages import OPTICAL_FRAME, camera_info_msg, depth_mm, image_msg
from grasp_core.camera import D435_COLOR_640X480
from grasp_core.frames import transform_from_xyz_quat
from grasp_core.pose import TransformSettings
from grasp_core.workspace import Workspace
from grasp_interfaces.msg import ImageGrasp, ImageGraspArray
from grasp_transform.convert import marker_array, transform_frame

# A camera 0.8 m above the table at (0.5, 0, 0) in the base frame, looking straight down.
CAMERA = transform_from_xyz_quat([0.5, 0.0, 0.8], [1.0, 0.0, 0.0, 0.0])
SETTINGS = TransformSettings(Workspace(np.array([0.2, -0.4, -0.02]), np.array([0.8, 0.4, 0.5])))


def frame_messages(n_grasps: int, seed: int = 0) -> tuple:
    """(detections, depth, camera_info) of a 640x480 table with 5 % holes and n grasps."""
    rng = np.random.default_rng(seed)
    k = D435_COLOR_640X480
    depth = np.full((k.height, k.width), 0.8) - rng.uniform(0, 0.1, (k.height, k.width))
    depth[rng.random(depth.shape) < 0.05] = np.nan
    stamp = Time(sec=1, nanosec=0)
    detections = ImageGraspArray()
    detections.header.stamp, detections.header.frame_id = stamp, OPTICAL_FRAME
    detections.grasps = [
        ImageGrasp(
            u=float(rng.uniform(0, k.width - 1)), v=float(rng.uniform(0, k.height - 1)),
            angle=float(rng.uniform(-1.5, 1.5)), width=float(rng.uniform(10, 80)),
            jaw_length=20.0, quality=float(rng.uniform()),
        )
        for _ in range(n_grasps)
    ]  # fmt: skip
    return (
        detections,
        image_msg(depth_mm(depth), "16UC1", stamp, OPTICAL_FRAME),
        camera_info_msg(k, stamp, OPTICAL_FRAME),
    )


def overhead_ms(n_grasps: int, repeats: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Wall times (ms) of ``repeats`` runs on one synthetic frame: frame -> GraspArray, and
    the MarkerArray of its grasps."""
    detections, depth, info = frame_messages(n_grasps)
    grasps, markers = np.empty(repeats), np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        _, result = transform_frame(detections, depth, info, CAMERA, SETTINGS, "base_link")
        t1 = time.perf_counter()
        marker_array(result.poses, Header(frame_id="base_link"), SETTINGS.gripper)
        grasps[i], markers[i] = (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3
    return grasps, markers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grasps", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    for n in args.grasps:
        grasps, markers = overhead_ms(n, args.repeats)
        print(
            f"grasp_transform 640x480, {n} grasps, {args.repeats} frames: frame -> grasps "
            f"median {np.median(grasps):.2f} ms (p95 {np.percentile(grasps, 95):.2f}); "
            f"markers median {np.median(markers):.2f} ms (p95 {np.percentile(markers, 95):.2f})"
        )


if __name__ == "__main__":
    main()
