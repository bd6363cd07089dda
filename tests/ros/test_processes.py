"""Nodes in separate processes, as `ros2 launch` runs them: full-size camera frames reach
another process with the stack's Fast DDS profile (config/fastdds.xml says why they did not
without it), and a node stopped by Ctrl-C exits cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from grasp_bringup.dds import PROFILE_VARIABLES, profile_environment
from harness import DOMAIN_ID

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "src/grasp_bringup/config/fastdds.xml"
LISTEN_S = 6.0
LISTENER = """
import json, sys, time
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

rclpy.init()
node = Node("listener")
got = {"color": 0, "depth": 0}
for key, topic in (("color", "/camera/color/image_raw"),
                   ("depth", "/camera/aligned_depth_to_color/image_raw")):
    node.create_subscription(Image, topic, lambda m, k=key: got.__setitem__(k, got[k] + 1),
                             qos_profile_sensor_data)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
print(json.dumps(got))
"""


def replay_folder(root: Path) -> Path:
    """Two 640x480 frames of noise (PNG does not shrink them) with their intrinsics."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        cv2.imwrite(str(root / f"{name}_rgb.png"), rng.integers(0, 256, (480, 640, 3), np.uint8))
        cv2.imwrite(str(root / f"{name}_depth.png"), rng.integers(300, 900, (480, 640), np.uint16))
    camera = {"fx": 615.4, "fy": 615.7, "cx": 320.6, "cy": 240.2, "width": 640, "height": 480}
    (root / "camera.json").write_text(json.dumps(camera))
    return root


def beside_node(
    package: str, parameters: dict, tmp_path: Path, script: str, *args: str, timeout: float
) -> tuple[subprocess.CompletedProcess, int, str]:
    """Start ``package``'s node through its main(), as `ros2 run` does, in its own process
    with ``parameters`` and the bringup's Fast DDS profile; run ``script`` with ``args`` in
    another process beside it; then stop the node with Ctrl-C. Returns the script's result
    and the node's exit code and stderr."""
    params = tmp_path / f"{package}.yaml"
    params.write_text(json.dumps({package: {"ros__parameters": parameters}}))
    env = os.environ | profile_environment(PROFILE, {}) | {
        "ROS_DOMAIN_ID": str(DOMAIN_ID), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }  # fmt: skip
    node = subprocess.Popen(
        [sys.executable, "-c", f"from {package}.node import main; main()",
         "--ros-args", "--params-file", str(params)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
    finally:
        node.send_signal(signal.SIGINT)
        _, node_err = node.communicate(timeout=20)
    return result, node.returncode, node_err


def test_full_size_frames_reach_a_node_in_another_process(tmp_path: Path) -> None:
    replay = {"source": "replay", "replay_path": str(replay_folder(tmp_path / "replay"))}
    listener, camera_rc, camera_err = beside_node(
        "grasp_camera", {**replay, "rate_hz": 2.0}, tmp_path, LISTENER, str(LISTEN_S), timeout=60
    )
    got = json.loads(listener.stdout.splitlines()[-1])
    # 2 Hz for 6 s, less the discovery at the start. Without the profile 0 colour images and
    # 0-1 depth images came through (at 5 Hz about half of them).
    assert got["color"] >= 8 and got["depth"] >= 8, got
    assert camera_rc == 0, camera_err


def test_the_users_own_profile_file_wins() -> None:
    assert profile_environment(PROFILE, {}) == dict.fromkeys(PROFILE_VARIABLES, str(PROFILE))
    assert profile_environment(PROFILE, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}


ACTION_PROBE = """
import sys
import rclpy
from rclpy.action import ActionClient
from grasp_interfaces.action import CleanTable

rclpy.init()
node = rclpy.create_node("probe")
client = ActionClient(node, CleanTable, "/clean_table")
print(client.wait_for_server(timeout_sec=float(sys.argv[1])))
node.destroy_node()
rclpy.shutdown()
"""


def test_a_multithreaded_node_serves_in_its_own_process_and_stops_cleanly(tmp_path: Path) -> None:
    # The executor node's main(): run_node with its MultiThreadedExecutor factory.
    arm = ROOT / "src/grasp_bringup/config/arms/ur5.yaml"
    probe, executor_rc, executor_err = beside_node(
        "grasp_executor", {"arm_config": str(arm)}, tmp_path, ACTION_PROBE, "30", timeout=90
    )
    assert probe.stdout.strip().splitlines()[-1] == "True", probe.stderr
    assert executor_rc == 0, executor_err
