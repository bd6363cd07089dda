"""grasp_sim: the simulated arm, gripper, table and camera (grasp_sim.robot) on ROS topics.

Publishes /joint_states (the arm's joints in rad and GRIPPER_JOINT, the finger gap in m) at
JOINT_STATE_HZ and the camera topics at camera_rate_hz; runs trajectories from
/arm_controller/joint_trajectory (a new one preempts the running one) and finger gaps (m)
from /gripper/command; /sim/ground_truth answers the scene's state as JSON, /sim/reset
drops a new table. One thread runs the simulator (MuJoCo's OpenGL context is bound to it):
it steps physics to wall-clock time and renders; callbacks hand it requests.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from ament_index_python.packages import get_package_share_directory
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from grasp_camera.messages import CameraPublisher, depth_mm
from grasp_core.arm import load_arm_config
from grasp_core.node import run_node
from grasp_sim.robot import GRIPPER_JOINT, SimRobot, trajectory_arrays

PARAMETERS = {"arm": "ur5", "arm_config": "", "objects": 3, "seed": 0, "camera_rate_hz": 5.0}
JOINT_STATE_HZ = 50.0
MAX_CATCH_UP_S = 0.5  # after a stall, sim time skips ahead rather than racing to catch up
SLOW_LOOP_S = 1.0  # a simulator loop longer than this is logged, with where the time went
REQUEST_TIMEOUT_S = 10.0


class SimNode(Node):
    """The simulator node; keyword arguments go to rclpy's Node (context, parameter_overrides)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_sim", **kwargs)
        p = {n: self.declare_parameter(n, d).value for n, d in PARAMETERS.items()}
        path = p["arm_config"] or (
            f"{get_package_share_directory('grasp_bringup')}/config/arms/{p['arm']}.yaml"
        )
        self.config = load_arm_config(path)
        self.table = (p["objects"], p["seed"])
        # Built here so a bad config fails the node's start; it renders only on its thread.
        self.robot = SimRobot(self.config, *self.table)
        self.camera_period = 1.0 / p["camera_rate_hz"]
        self.requests: queue.Queue[tuple[Callable, Future]] = queue.Queue()
        self.joints_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.camera = CameraPublisher(self)
        self.create_subscription(
            JointTrajectory, "/arm_controller/joint_trajectory", self.on_trajectory, 10
        )
        self.create_subscription(Float64, "/gripper/command", self.on_gripper, 10)
        self.create_service(Trigger, "/sim/ground_truth", self.on_ground_truth)
        self.create_service(Trigger, "/sim/reset", self.on_reset)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="grasp_sim", daemon=True)
        self.thread.start()
        self.get_logger().info(f"{self.config.arm} from {path}, {p['objects']} objects")

    def run(self) -> None:
        last = next_frame = time.monotonic()
        while not self.stop.is_set():
            begin = time.monotonic()
            while not self.requests.empty():
                request, future = self.requests.get()
                try:
                    future.set_result(request())
                except ValueError as error:
                    future.set_exception(error)
            now = time.monotonic()
            self.robot.step(min(now - last, MAX_CATCH_UP_S))
            last, stepped = now, time.monotonic()
            self.publish_joints()
            if now >= next_frame:
                next_frame = now + self.camera_period
                self.publish_camera()
            if (end := time.monotonic()) - begin > SLOW_LOOP_S:
                # A stalled loop freezes the arm and /joint_states; say where it stalled.
                self.get_logger().warning(
                    f"simulator loop took {end - begin:.1f} s: requests {now - begin:.2f} s, "
                    f"physics {stepped - now:.2f} s, publishing and rendering {end - stepped:.2f} s"
                )
            time.sleep(max(0.0, 1.0 / JOINT_STATE_HZ - (time.monotonic() - now)))
        self.robot.close()

    def call(self, request: Callable) -> Future:
        """Run ``request`` on the simulator thread; its result arrives in the future."""
        future: Future = Future()
        self.requests.put((request, future))
        return future

    def publish_joints(self) -> None:
        msg = JointState(name=[*self.config.joint_names, GRIPPER_JOINT])
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.position = [*self.robot.joint_positions(), self.robot.gripper_opening()]
        msg.velocity = [*self.robot.joint_velocities(), 0.0]
        self.joints_pub.publish(msg)

    def publish_camera(self) -> None:
        frame = self.robot.render()
        stamp = self.get_clock().now().to_msg()
        self.camera.publish(frame.rgb, depth_mm(frame.depth), frame.intrinsics, stamp)

    def on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            times, positions = trajectory_arrays(
                msg.joint_names,
                [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points],
                [list(p.positions) for p in msg.points],
                self.config.joint_names,
            )
        except ValueError as error:
            self.get_logger().error(f"command ignored: {error}")
            return
        self.call(lambda: self.robot.command(times, positions)).add_done_callback(self.log_refusal)

    def on_gripper(self, msg: Float64) -> None:
        self.call(lambda: self.robot.set_gripper(msg.data)).add_done_callback(self.log_refusal)

    def log_refusal(self, future: Future) -> None:
        if future.exception() is not None:
            self.get_logger().error(f"command ignored: {future.exception()}")

    def on_ground_truth(self, _, response: Trigger.Response) -> Trigger.Response:
        return self.answer(response, lambda: json.dumps(self.robot.ground_truth()))

    def on_reset(self, _, response: Trigger.Response) -> Trigger.Response:
        return self.answer(response, self.new_table)

    def new_table(self) -> str:
        self.robot.reset(*self.table)
        return json.dumps(self.robot.ground_truth())

    def answer(self, response: Trigger.Response, request: Callable) -> Trigger.Response:
        try:
            response.message = self.call(request).result(timeout=REQUEST_TIMEOUT_S)
            response.success = True
        except (TimeoutError, ValueError) as error:
            response.success, response.message = False, f"simulator: {error!r}"
        return response

    def destroy_node(self) -> None:
        self.stop.set()
        self.thread.join()
        super().destroy_node()


def main() -> None:
    run_node(SimNode)
