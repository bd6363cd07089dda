"""One camera frame's messages -> base-frame GraspArray and MarkerArray (no node state).

The per-frame path of the grasp_transform node, kept apart from the node so that it can be
timed (grasp_transform.bench) and reused; the geometry is grasp_core.pose's.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, TransformStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from grasp_camera.messages import DEPTH_TOPIC, camera_intrinsics, image_array
from grasp_core.frames import quaternions, transform_from_xyz_quat
from grasp_core.grasp import ImageGrasp
from grasp_core.gripper import GripperSpec
from grasp_core.markers import SEGMENTS_PER_GRASP, gripper_segments, quality_colours
from grasp_core.pose import BaseGrasps, GraspPoses, TransformSettings, grasps_in_base
from grasp_core.preprocess import InputError
from grasp_interfaces.msg import Grasp, GraspArray, ImageGraspArray

# m per unit of each depth encoding accepted: 16UC1 / mono16 in mm (0 = missing), 32FC1 in m
DEPTH_SCALES_M = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}
MARKER_NAMESPACE = "grasps"
MARKER_LINE_WIDTH_M = 0.003


def image_grasps(msg: ImageGraspArray) -> list[ImageGrasp]:
    """The grasp_core grasps of a detections message, in its order."""
    return [
        ImageGrasp(g.u, g.v, g.angle, g.width, g.jaw_length, g.quality, g.instance_id, g.label)
        for g in msg.grasps
    ]


def depth_image(msg: Image) -> tuple[np.ndarray, float]:
    """(HxW depth as sent, m per unit) of an aligned depth image; InputError if unusable.

    The image is not converted to m: only the patches under the grasps are (in
    grasp_core.pose), which saves a pass over the whole image per frame.
    """
    if msg.encoding not in DEPTH_SCALES_M:
        raise InputError(
            f"depth on {DEPTH_TOPIC} has encoding '{msg.encoding}'; expected 16UC1 (mm) or "
            "32FC1 (m) aligned to the colour image"
        )
    return image_array(msg), DEPTH_SCALES_M[msg.encoding]


def transform_matrix(msg: TransformStamped) -> np.ndarray:
    """4x4 transform (child frame -> header frame, m) of a tf2 TransformStamped."""
    t, q = msg.transform.translation, msg.transform.rotation
    return transform_from_xyz_quat([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])


def grasp_array(result: BaseGrasps, detections: ImageGraspArray, header: Header) -> GraspArray:
    """GraspArray (header: the frame's stamp, the base frame) of the kept grasps, best first."""
    out = GraspArray(header=header)
    quats = quaternions(result.poses.rotations) if len(result.poses) else ()
    for k, i in enumerate(result.indices):
        source = detections.grasps[i]
        grasp = Grasp(
            width=float(result.poses.widths[k]), quality=source.quality, label=source.label,
            instance_id=source.instance_id, image_grasp=source,
        )  # fmt: skip
        # Filled in place: a message builds its default sub-messages even when given others,
        # so passing a new PoseStamped would build the pose twice (half of this loop's time).
        grasp.pose.header = header
        position, orientation = grasp.pose.pose.position, grasp.pose.pose.orientation
        position.x, position.y, position.z = result.poses.positions[k].tolist()
        orientation.x, orientation.y, orientation.z, orientation.w = quats[k].tolist()
        out.grasps.append(grasp)
    return out


def marker_array(poses: GraspPoses, header: Header, gripper: GripperSpec) -> MarkerArray:
    """One gripper-shaped LINE_LIST per grasp (base frame), coloured by quality (red 0 ..
    green 1), after a DELETEALL that clears the previous frame's."""
    out = MarkerArray(markers=[Marker(header=header, ns=MARKER_NAMESPACE, action=Marker.DELETEALL)])
    segments = gripper_segments(poses, gripper).reshape(len(poses), 2 * SEGMENTS_PER_GRASP, 3)
    colours = quality_colours(poses.qualities).tolist()
    for k, (points, (r, g, b, a)) in enumerate(zip(segments, colours, strict=True)):
        marker = Marker(header=header, ns=MARKER_NAMESPACE, id=k, type=Marker.LINE_LIST)
        marker.pose.orientation.w = 1.0
        marker.scale.x = MARKER_LINE_WIDTH_M
        marker.color = ColorRGBA(r=r, g=g, b=b, a=a)
        marker.points = [Point(x=x, y=y, z=z) for x, y, z in points.tolist()]
        out.markers.append(marker)
    return out


def transform_frame(
    detections: ImageGraspArray,
    depth: Image,
    camera_info: CameraInfo,
    base_from_optical: np.ndarray,
    settings: TransformSettings,
    base_frame: str,
) -> tuple[GraspArray, BaseGrasps]:
    """One frame, detections + aligned depth + camera_info -> base-frame grasps.

    base_from_optical: 4x4, camera optical frame -> base_frame, m. Returns the message (header:
    the detections' stamp, base_frame) and the result with the dropped grasps' reasons.
    Raises InputError when the depth or camera_info is unusable (encoding, size, no K).
    """
    intrinsics = camera_intrinsics(camera_info)
    image, scale = depth_image(depth)
    result = grasps_in_base(
        image_grasps(detections), image, intrinsics, base_from_optical, settings, base_frame,
        scale,
    )  # fmt: skip
    header = Header(stamp=detections.header.stamp, frame_id=base_frame)
    return grasp_array(result, detections, header), result
