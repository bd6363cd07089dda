"""From image grasps and aligned depth to 6-DoF grasp poses, in the camera and the base frame.

After 002_a78fe279f064600a.txt (eq. 8-9): the gripper approaches along the camera's optical
axis; its centre is the grasp pixel back-projected at the measured depth and pushed d
further along the axis; its closing axis is the image angle turned into the optical frame.
The table-normal approach instead comes straight down onto the table (along -up), with the
closing axis the image's closing line laid onto the plane parallel to the table through the
grasped surface point.

Gripper frame (the stack's convention, also the simulated gripper's): origin between the
fingertips, x along the closing axis, z along the approach (from the palm towards the
fingertips), y = z cross x. Optical frame as in grasp_core.camera.

Every per-frame step works on all grasps of a frame at once (numpy over N grasps), so a
frame's overhead does not grow with a Python loop over grasps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

import numpy as np

from grasp_core.camera import CameraIntrinsics
from grasp_core.clearance import BLOCKED_SHARE, SeenDepth, blocked_share, turned_free
from grasp_core.grasp import ImageGrasp
from grasp_core.gripper import DEFAULT_GRIPPER, GripperSpec
from grasp_core.preprocess import InputError, valid_depth
from grasp_core.workspace import Workspace

Approach = Literal["camera", "table_normal"]
"""How the gripper comes in: along the optical axis (002 eq. 8-9) or down the table normal."""
APPROACHES: tuple[str, ...] = get_args(Approach)

# Below this |cos| between a pixel ray and the table plane the ray meets the plane too far
# away (or behind the camera) for the closing line to be placed on it.
_MIN_RAY_COS = 1e-6


@dataclass(frozen=True)
class GraspPose:
    """A 6-DoF parallel-jaw grasp. position: gripper origin, m; rotation: 3x3, columns the
    gripper's x (closing), y, z (approach) axes; both in the frame ``frame`` names.
    width: opening between the fingers, m. quality: 0..1."""

    position: np.ndarray
    rotation: np.ndarray
    width: float
    quality: float
    frame: str = "camera_optical"

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform, gripper frame -> ``frame``."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, self.position
        return out

    def transformed(self, transform: np.ndarray, frame: str) -> GraspPose:
        """This pose in another frame; transform: 4x4, self.frame -> ``frame``."""
        m = transform @ self.matrix()
        return GraspPose(m[:3, 3].copy(), m[:3, :3].copy(), self.width, self.quality, frame)


@dataclass(frozen=True)
class GraspPoses:
    """N grasps in one frame, the array form of GraspPose: positions (N, 3) m, rotations
    (N, 3, 3) with columns x (closing), y, z (approach), widths (N,) m, qualities (N,)."""

    positions: np.ndarray
    rotations: np.ndarray
    widths: np.ndarray
    qualities: np.ndarray
    frame: str = "camera_optical"

    def __len__(self) -> int:
        return len(self.widths)

    def pose(self, i: int) -> GraspPose:
        """The i-th grasp as a GraspPose."""
        return GraspPose(
            self.positions[i].copy(), self.rotations[i].copy(), float(self.widths[i]),
            float(self.qualities[i]), self.frame,
        )  # fmt: skip

    def select(self, index: np.ndarray) -> GraspPoses:
        """The grasps at ``index`` (integer indices or a boolean mask), in that order."""
        return GraspPoses(
            self.positions[index], self.rotations[index], self.widths[index],
            self.qualities[index], self.frame,
        )  # fmt: skip

    def transformed(self, transform: np.ndarray, frame: str) -> GraspPoses:
        """These grasps in another frame; transform: 4x4, self.frame -> ``frame``."""
        r, t = transform[:3, :3], transform[:3, 3]
        return GraspPoses(
            self.positions @ r.T + t, r @ self.rotations, self.widths, self.qualities, frame
        )


def _centre_pixels(depth: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Nearest pixel (column, row) of each centre and whether it lies in the image."""
    h, w = depth.shape
    iu, iv = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
    return iu, iv, (iu >= 0) & (iu < w) & (iv >= 0) & (iv < h)


def patch_depths(depth: np.ndarray, u: np.ndarray, v: np.ndarray, radius_px: int) -> np.ndarray:
    """Robust depths (N,) at the pixels (u, v) (each (N,) px): per centre, the median of the
    valid (finite, > 0) pixels within radius_px (a square patch, cut at the image border).
    depth: HxW in m or in sensor units (16UC1 mm); the result is in the same unit.

    A median ignores the sensor's holes and flying pixels at object edges, where a single
    pixel's depth is least reliable. NaN where the centre is outside the image or its patch
    has no valid depth.
    """
    h, w = depth.shape
    iu, iv, inside = _centre_pixels(depth, np.asarray(u), np.asarray(v))
    offsets = np.arange(-radius_px, radius_px + 1)
    cols = (iu[:, None] + offsets)[:, None, :]  # (N, 1, P) against rows (N, P, 1)
    rows = (iv[:, None] + offsets)[:, :, None]
    in_image = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    shape = (len(iu), offsets.size**2)
    values = depth[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].reshape(shape)
    values = np.where(in_image.reshape(shape) & valid_depth(values), values, np.nan)
    # NaN sorts last, so the k valid values of a row are its first k.
    ordered = np.sort(values, axis=1)
    k = (~np.isnan(ordered)).sum(axis=1)
    lo, hi = np.maximum(k - 1, 0) // 2, k // 2
    lo_value = np.take_along_axis(ordered, lo[:, None], axis=1)[:, 0]
    hi_value = np.take_along_axis(ordered, np.minimum(hi, ordered.shape[1] - 1)[:, None], 1)[:, 0]
    median = (lo_value + hi_value) / 2
    return np.where(inside & (k > 0), median, np.nan).astype(np.float64)


def patch_depth(depth_m: np.ndarray, u: float, v: float, radius_px: int) -> float:
    """Robust depth (m) at (u, v) px, as patch_depths for one centre.

    Raises InputError if the centre is outside the image or the patch has no valid depth.
    """
    h, w = depth_m.shape
    if not _centre_pixels(depth_m, np.array([u]), np.array([v]))[2][0]:
        raise InputError(f"grasp centre ({u:.1f}, {v:.1f}) px is outside the {w}x{h} depth image")
    depth = patch_depths(depth_m, np.array([u]), np.array([v]), radius_px)[0]
    if np.isnan(depth):
        raise InputError(f"no valid depth within {radius_px} px of ({u:.1f}, {v:.1f}) px")
    return float(depth)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def grasp_poses_in_camera(
    grasps: Sequence[ImageGrasp],
    depth: np.ndarray,
    intrinsics: CameraIntrinsics,
    grasp_depth_m: float,
    patch_radius_px: int = 3,
    approach: Approach = "camera",
    up: np.ndarray | None = None,
    depth_scale_m: float = 1.0,
) -> tuple[GraspPoses, list[str]]:
    """The 6-DoF grasps (optical frame) of image grasps on an aligned depth image.

    grasp_depth_m: how far past the measured surface the fingertips go (002's d), m, along
    the approach. approach: 'camera' (002 eq. 8-9) or 'table_normal' (straight down, -up).
    up: the table's normal pointing away from it, a unit (3,) vector in the optical frame
    (the base frame's +z seen from the camera); needed for 'table_normal'. depth_scale_m:
    m per unit of depth (1 for depth in m; 0.001 for a raw 16UC1 image in mm, which then
    needs no conversion of the whole image).

    Width (m): the image opening (px) laid onto the plane through the surface point that is
    perpendicular to the approach (for 'camera', the plane z = depth as in 002).
    Returns the poses of all N grasps (NaN rows where no pose could be made) and N reasons,
    '' for a good pose, else why it has none.
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {APPROACHES}, got '{approach}'")
    if depth.shape != (intrinsics.height, intrinsics.width):
        raise InputError(
            f"depth image is {depth.shape[1]}x{depth.shape[0]} but camera_info is "
            f"{intrinsics.width}x{intrinsics.height}: depth must be aligned to the colour image"
        )
    params = np.array([(g.u, g.v, g.angle, g.width, g.quality) for g in grasps], np.float64)
    u, v, angle, width_px, qualities = params.reshape(-1, 5).T
    inside = _centre_pixels(depth, u, v)[2]
    surface = patch_depths(depth, u, v, patch_radius_px) * depth_scale_m
    if approach == "camera":
        normal = np.array([0.0, 0.0, 1.0])
    else:
        if up is None or abs(np.linalg.norm(up) - 1.0) > 1e-6:
            raise ValueError(f"table_normal approach needs a unit up vector, got {up}")
        normal = np.asarray(up, np.float64)
    # One back-projection (at unit depth) of the centres and both ends of each image
    # opening: rays (3, N, 3), the centres' first.
    c, s = np.cos(angle), np.sin(angle)
    du, dv = width_px / 2 * c, -width_px / 2 * s
    us, vs = np.stack([u, u + du, u - du]), np.stack([v, v + dv, v - dv])
    rays = intrinsics.backproject(us, vs, np.ones(us.shape))
    centre = rays[0] * surface[:, None]
    # Rays parallel to the table plane divide by ~0 here; ends_ok flags those grasps.
    with np.errstate(divide="ignore", invalid="ignore"):
        if approach == "camera":
            # Eq. 9: the closing axis (cos, -sin) of the image is the optical frame's (x, y).
            x_axis = np.stack([c, -s, np.zeros_like(c)], axis=-1)
        else:
            # The image's closing line through the centre, laid onto the plane n.X = n.P: its
            # tangent there is dr - r0 (n.dr) / (n.r0), r0 the centre's ray, dr its change per
            # px along the line; it keeps the image's sense of the closing axis.
            step = np.stack([c / intrinsics.fx, -s / intrinsics.fy, np.zeros_like(c)], axis=-1)
            x_axis = _unit(step - rays[0] * ((step @ normal) / (rays[0] @ normal))[:, None])
        # The jaws' endpoints on the plane through the surface point perpendicular to the
        # approach: the end rays, each stretched until it meets that plane.
        cos_ends = rays[1:] @ normal
        reach = (centre @ normal) / cos_ends
        ends_ok = (np.abs(cos_ends) > _MIN_RAY_COS).all(axis=0) & (reach > 0).all(axis=0)
        widths = np.linalg.norm(rays[1] * reach[0][:, None] - rays[2] * reach[1][:, None], axis=-1)
    # Every grasp of the frame approaches along the same z (the optical axis, or down the
    # table normal), so y = z x x is one product with z's cross-product matrix.
    z = -normal if approach == "table_normal" else normal
    z_cross = np.array([[0.0, -z[2], z[1]], [z[2], 0.0, -z[0]], [-z[1], z[0], 0.0]])
    rotations = np.empty((len(u), 3, 3))
    rotations[:, :, 0], rotations[:, :, 1], rotations[:, :, 2] = x_axis, x_axis @ z_cross.T, z
    # Eq. 8: the surface point, pushed d further along the approach.
    positions = centre + grasp_depth_m * z
    bad = ~inside | np.isnan(surface) | ~ends_ok
    reasons = [""] * len(grasps)
    for i in np.flatnonzero(bad):
        at = f"({u[i]:.1f}, {v[i]:.1f}) px"
        reasons[i] = (
            f"grasp centre {at} is outside the depth image"
            if not inside[i]
            else f"no valid depth within {patch_radius_px} px of {at}"
            if np.isnan(surface[i])
            else f"the closing line at {at} does not meet the table plane in front of the camera"
        )
    positions[bad], widths[bad], rotations[bad] = np.nan, np.nan, np.nan
    return GraspPoses(positions, rotations, widths, qualities), reasons


def grasp_pose_in_camera(
    grasp: ImageGrasp,
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    grasp_depth_m: float,
    patch_radius_px: int = 3,
    approach: Approach = "camera",
    up: np.ndarray | None = None,
) -> GraspPose:
    """The 6-DoF grasp (optical frame) of one image grasp; see grasp_poses_in_camera.

    Raises InputError with the reason when no pose can be made.
    """
    poses, reasons = grasp_poses_in_camera(
        [grasp], depth_m, intrinsics, grasp_depth_m, patch_radius_px, approach, up
    )
    if reasons[0]:
        raise InputError(reasons[0])
    return poses.pose(0)


def fits_gripper(
    widths_m: np.ndarray, gripper: GripperSpec = DEFAULT_GRIPPER, margin_m: float = 0.0
) -> np.ndarray:
    """Whether each grasp width (m) is within the gripper's max opening plus margin_m (m).

    A grasp's width is the opening it needs: the generated labels, and so the models
    trained on them, already include the clearance (the object's extent plus
    width_tolerance), so adding the clearance again would drop grasps the gripper can do.
    """
    return np.asarray(widths_m) <= gripper.max_opening + margin_m


@dataclass(frozen=True)
class TransformSettings:
    """How image grasps become base-frame grasps.

    grasp_depth_m: fingertips past the surface, m. patch_radius_px: depth patch radius, px.
    approach: see Approach. gripper: checks the width. workspace: base-frame box every grasp
    position must lie in. min_quality: grasps below it are dropped, 0..1. width_margin_m:
    grasps up to this much wider than the gripper's max opening (m) are kept, their width
    set to the max opening: a model's width is a regression that can be a centimetre too
    wide, and the gripper opens fully before a grasp anyway. check_fingers: drop grasps
    a finger of which would land on something on its way down (grasp_core.clearance),
    unless turning the grasp about its approach axis by up to max_turn_rad (rad) frees
    its fingers (clearance.turned_free; 0: never turned).
    """

    workspace: Workspace
    grasp_depth_m: float = 0.02
    patch_radius_px: int = 3
    approach: Approach = "camera"
    gripper: GripperSpec = DEFAULT_GRIPPER
    min_quality: float = 0.0
    width_margin_m: float = 0.0
    check_fingers: bool = True
    max_turn_rad: float = 0.52

    @classmethod
    def from_parameters(
        cls, parameters: Mapping[str, Any], workspace: Workspace, gripper: GripperSpec
    ) -> TransformSettings:
        """The settings of a transform node's ``parameters`` (the fields they name, defaults
        otherwise), for the arm's workspace and gripper."""
        named = {f.name: parameters[f.name] for f in fields(cls) if f.name in parameters}
        return cls(**{**named, "workspace": workspace, "gripper": gripper})


@dataclass(frozen=True)
class BaseGrasps:
    """The grasps of one frame that passed every check, in the base frame, best first.

    indices: (K,) index of each kept grasp in the input. dropped: (index, reason) of the rest.
    """

    poses: GraspPoses
    indices: np.ndarray
    dropped: tuple[tuple[int, str], ...]


def raise_to_floor(poses: GraspPoses, floor_z: float) -> GraspPoses:
    """Grasps whose origin (the fingertips) lies below ``floor_z`` (m, base frame, z up)
    backed off along their approach axis until it is on the floor.

    A fixed grasp depth past the surface drives the fingers into the table under low
    objects; stopping at the floor keeps the deepest grasp the table allows, which holds
    round objects below their widest section. Grasps approaching within ~6° of horizontal
    cannot be raised that way and are left for the workspace check.
    """
    approach_z = poses.rotations[:, 2, 2]
    below = (poses.positions[:, 2] < floor_z) & (approach_z < -0.1)
    back = np.where(below, (floor_z - poses.positions[:, 2]) / np.where(below, -approach_z, 1), 0)
    positions = poses.positions - back[:, None] * poses.rotations[:, :, 2]
    # On the floor exactly: rounding would leave some a hair below it, and the workspace
    # check (bounds inclusive) would then drop the very grasps this raised.
    positions[below, 2] = floor_z
    return GraspPoses(positions, poses.rotations, poses.widths, poses.qualities, poses.frame)


def grasps_in_base(
    grasps: Sequence[ImageGrasp],
    depth: np.ndarray,
    intrinsics: CameraIntrinsics,
    base_from_optical: np.ndarray,
    settings: TransformSettings,
    base_frame: str = "base_link",
    depth_scale_m: float = 1.0,
) -> BaseGrasps:
    """Image grasps + aligned depth -> checked 6-DoF grasps in the base frame.

    base_from_optical: 4x4 transform, camera optical frame -> base frame (z up), m.
    depth_scale_m: m per unit of depth (see grasp_poses_in_camera). Grasps reaching below
    the workspace floor are raised to it (raise_to_floor). A grasp is dropped, with its
    reason, when it has no pose, is below min_quality, is wider than the gripper opens
    (beyond width_margin_m; widths within it become the max opening), its position lies
    outside the workspace, or (check_fingers) a finger would land on something seen in the
    depth on its way down, at the opening it comes down with, and no turn about the
    approach axis within max_turn_rad frees it (a grasp so freed is returned turned).
    """
    up = base_from_optical[2, :3]  # the base's +z in the optical frame
    camera_poses, reasons = grasp_poses_in_camera(
        grasps, depth, intrinsics, settings.grasp_depth_m, settings.patch_radius_px,
        settings.approach, up, depth_scale_m,
    )  # fmt: skip
    poses = camera_poses.transformed(base_from_optical, base_frame)
    poses = raise_to_floor(poses, settings.workspace.lower[2])
    low_quality = poses.qualities < settings.min_quality
    too_wide = ~fits_gripper(poses.widths, settings.gripper, settings.width_margin_m)
    outside = ~settings.workspace.contains(poses.positions)
    widths = np.minimum(poses.widths, settings.gripper.max_opening)
    share = np.zeros(len(poses))
    blocked = np.zeros(len(poses), bool)
    if settings.check_fingers:
        openings = settings.gripper.approach_opening(widths)
        seen = SeenDepth(depth, intrinsics, base_from_optical, depth_scale_m)
        share = blocked_share(poses.positions, poses.rotations, openings, seen, settings.gripper)
        blocked = share >= BLOCKED_SHARE
        turnable = np.flatnonzero(blocked & ~(low_quality | too_wide | outside))
        if turnable.size and settings.max_turn_rad > 0:
            rotations = poses.rotations.copy()
            rotations[turnable], freed = turned_free(
                poses.positions[turnable], rotations[turnable], openings[turnable], seen,
                settings.gripper, settings.max_turn_rad,
            )  # fmt: skip
            blocked[turnable[freed]] = False
            poses = replace(poses, rotations=rotations)
    for i in np.flatnonzero(low_quality | too_wide | outside | blocked):
        if reasons[i]:
            continue
        p = poses.positions[i]
        reasons[i] = (
            f"quality {poses.qualities[i]:.2f} is below min_quality {settings.min_quality:.2f}"
            if low_quality[i]
            else f"width {poses.widths[i]:.3f} m exceeds the gripper's "
            f"{settings.gripper.max_opening:.3f} m by more than {settings.width_margin_m:.3f} m"
            if too_wide[i]
            else f"position ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is outside the workspace"
            if outside[i]
            else f"a finger would land on something on its way down ({share[i]:.0%} of its "
            "footprint)"
        )
    kept = np.array([i for i, r in enumerate(reasons) if not r], np.int64)
    kept = kept[np.argsort(-poses.qualities[kept], kind="stable")]
    dropped = tuple((i, r) for i, r in enumerate(reasons) if r)
    fitted = replace(poses, widths=widths)
    return BaseGrasps(fitted.select(kept), kept, dropped)
