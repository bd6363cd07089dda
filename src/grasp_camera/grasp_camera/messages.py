"""sensor_msgs <-> numpy for every node of the stack (cv_bridge is not required).

Topic names and frames follow realsense2_camera, so its driver can replace ours: colour as
rgb8, depth aligned to colour as 16UC1 in mm, both in the colour camera's optical frame.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from grasp_camera.frame import depth_mm as depth_mm  # ROS-free, re-exported for the nodes
from grasp_core.camera import CameraIntrinsics
from grasp_core.images import decode_image, encode_image
from grasp_core.preprocess import InputError

COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
CAMERA_INFO_TOPIC = "/camera/color/camera_info"
OPTICAL_FRAME = "camera_color_optical_frame"
DEPTH_ENCODING = "16UC1"  # mm, 0 = no measurement


def stamp_ns(header) -> int:
    """A std_msgs/Header's stamp in ns, the key that pairs a frame's messages."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def image_msg(image: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """An Image message of an HxW or HxWx3 array (rgb8 arrays are in RGB order)."""
    step, data = encode_image(image, encoding)
    msg = Image(height=image.shape[0], width=image.shape[1], encoding=encoding, step=step)
    msg.is_bigendian = 0
    msg.data = data
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def image_array(msg: Image) -> np.ndarray:
    """The array of an Image message; InputError (with the topic's fix) when it is malformed."""
    return decode_image(
        msg.data, msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian)
    )


def camera_info_msg(intrinsics: CameraIntrinsics, stamp: Time, frame_id: str) -> CameraInfo:
    """CameraInfo of an undistorted pinhole camera (plumb_bob with zero distortion)."""
    k = intrinsics.matrix
    msg = CameraInfo(height=intrinsics.height, width=intrinsics.width)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = k.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = np.hstack([k, np.zeros((3, 1))]).ravel().tolist()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def camera_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """The intrinsics of a CameraInfo; InputError when K is empty or not a pinhole matrix."""
    k = np.asarray(msg.k, np.float64)
    if k.size != 9 or k[0] <= 0 or k[4] <= 0 or msg.width == 0 or msg.height == 0:
        raise InputError(
            f"camera_info on frame '{msg.header.frame_id}' has no usable K ({k.tolist()}) or "
            f"size {msg.width}x{msg.height}: the driver must publish calibrated intrinsics"
        )
    return CameraIntrinsics(
        fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]),
        width=int(msg.width), height=int(msg.height),
    )  # fmt: skip


class CameraPublisher:
    """The three camera topics of a driver node, with sensor-data QoS: one frame goes out
    as colour, aligned depth and camera_info under one stamp and frame id."""

    def __init__(self, node: Node) -> None:
        qos = qos_profile_sensor_data
        self.color = node.create_publisher(Image, COLOR_TOPIC, qos)
        self.depth = node.create_publisher(Image, DEPTH_TOPIC, qos)
        self.info = node.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, qos)

    def publish(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        intrinsics: CameraIntrinsics,
        stamp: Time,
        frame_id: str = OPTICAL_FRAME,
    ) -> None:
        """rgb: HxWx3 uint8 RGB; depth: HxW uint16 mm aligned to rgb (0 = missing)."""
        self.color.publish(image_msg(rgb, "rgb8", stamp, frame_id))
        self.depth.publish(image_msg(depth, DEPTH_ENCODING, stamp, frame_id))
        self.info.publish(camera_info_msg(intrinsics, stamp, frame_id))
