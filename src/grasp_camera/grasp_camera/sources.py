"""The camera driver's sources, ROS-free: a simulated table, a replayed folder, a RealSense.

Each is a grasp_camera.frame.CameraSource delivering CameraFrames (colour, depth aligned to
it in mm, the colour intrinsics, a capture time). RealSenseSource lives in realsense.py and
is imported only when asked for, so machines without pyrealsense2 run the other two.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from grasp_camera.frame import CameraError, CameraFrame, CameraSource, depth_mm
from grasp_core.camera import D435_COLOR_640X480, CameraIntrinsics
from grasp_core.datasets.generated import INFO_FILE, read_info
from grasp_core.images import read_depth, read_rgb
from grasp_core.preprocess import DEFAULT_DEPTH_SCALE_M, InputError, depth_to_metres
from grasp_sim.noise import add_depth_noise
from grasp_sim.objects import sample_objects
from grasp_sim.scene import TableScene, look_at

SOURCES = ("sim", "realsense", "replay")
_INTRINSICS_FIELDS = ("fx", "fy", "cx", "cy", "width", "height")


def intrinsics_from_dict(values: dict, origin: str) -> CameraIntrinsics:
    """CameraIntrinsics of a mapping with fx, fy, cx, cy (px), width, height (px)."""
    missing = [k for k in _INTRINSICS_FIELDS if k not in values]
    if missing:
        raise CameraError(
            f"{origin} lacks intrinsics {missing}: give {', '.join(_INTRINSICS_FIELDS)}"
        )
    return CameraIntrinsics(
        fx=float(values["fx"]), fy=float(values["fy"]), cx=float(values["cx"]),
        cy=float(values["cy"]), width=int(values["width"]), height=int(values["height"]),
    )  # fmt: skip


def intrinsics_from_calibration_yaml(path: Path) -> CameraIntrinsics:
    """CameraIntrinsics of a ROS camera calibration file (camera_calibration's YAML)."""
    try:
        calib = yaml.safe_load(path.read_text())
        k = calib["camera_matrix"]["data"]
        values = {"fx": k[0], "fy": k[4], "cx": k[2], "cy": k[5]}
        values |= {"width": calib["image_width"], "height": calib["image_height"]}
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as error:
        raise CameraError(
            f"{path} is not a ROS camera calibration (image_width, image_height, "
            f"camera_matrix.data): {error!r}"
        ) from None
    return intrinsics_from_dict(values, str(path))


@dataclass(frozen=True)
class ReplayItem:
    """One recorded frame: its colour and depth files."""

    rgb: Path
    depth: Path


def _generated_items(root: Path) -> tuple[list[ReplayItem], CameraIntrinsics, float]:
    try:
        info = read_info(root)
    except InputError as error:
        raise CameraError(str(error)) from None
    if "intrinsics" not in info:
        raise CameraError(f"{root / INFO_FILE} has no 'intrinsics': the replay needs them")
    intrinsics = intrinsics_from_dict(info["intrinsics"], str(root / INFO_FILE))
    items = [ReplayItem(p, root / "depth" / p.name) for p in sorted((root / "rgb").glob("*.png"))]
    return items, intrinsics, float(info["depth_unit_m"])


def _folder_items(root: Path) -> tuple[list[ReplayItem], CameraIntrinsics, float]:
    if (root / "camera.json").is_file():
        try:
            values = json.loads((root / "camera.json").read_text())
        except json.JSONDecodeError as error:
            raise CameraError(f"{root / 'camera.json'} is not JSON: {error}") from None
        intrinsics = intrinsics_from_dict(values, str(root / "camera.json"))
        unit = float(values.get("depth_unit_m", DEFAULT_DEPTH_SCALE_M))
    elif (root / "camera.yaml").is_file():
        intrinsics = intrinsics_from_calibration_yaml(root / "camera.yaml")
        unit = DEFAULT_DEPTH_SCALE_M
    else:
        raise CameraError(
            f"{root} has no intrinsics: add camera.json (fx, fy, cx, cy, width, height, "
            "optional depth_unit_m) or a ROS calibration camera.yaml"
        )
    items = []
    for rgb in sorted(root.glob("*_rgb.png")):
        stem = rgb.name.removesuffix("_rgb.png")
        depths = sorted(root.glob(f"{stem}_depth.*"))
        if not depths:
            raise CameraError(f"{rgb} has no depth image {stem}_depth.png (or .tiff, .npy)")
        items.append(ReplayItem(rgb, depths[0]))
    return items, intrinsics, unit


class ReplaySource:
    """Recorded frames from a folder, in name order, looped; stamped when read.

    The folder is a generated dataset (dataset.json with intrinsics, rgb/ and depth/, see
    grasp_core.datasets.generated) or plain NAME_rgb.png + NAME_depth.png (or .tiff/.npy)
    pairs with camera.json or camera.yaml. Depth files hold uint16 in the folder's
    depth_unit_m (default mm) or float m.

    cache_mb: when every frame of the folder, decoded, fits in this many MB, each is decoded
    once and replayed from memory after that (read-only arrays); 0 decodes on every read.
    Decoding a 640x480 PNG pair takes about 20 ms of a core, which at 30 Hz is most of one.
    """

    def __init__(self, path: str | Path, cache_mb: float = 0.0) -> None:
        self.path = Path(path)
        self.cache_mb = cache_mb
        self._items: list[ReplayItem] = []
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._next = 0

    def open(self) -> None:
        if self._items:
            return
        if not self.path.is_dir():
            raise CameraError(f"replay folder {self.path} does not exist: set replay_path")
        layout = _generated_items if (self.path / INFO_FILE).is_file() else _folder_items
        items, self.intrinsics, self.depth_unit_m = layout(self.path)
        if not items:
            raise CameraError(
                f"replay folder {self.path} holds no frames (rgb/*.png + depth/*.png, or "
                "NAME_rgb.png + NAME_depth.png)"
            )
        self._items, self._next = items, 0

    def read(self) -> CameraFrame:
        self.open()
        index = self._next
        self._next = (index + 1) % len(self._items)
        frame = self._cache.get(index)
        if frame is None:
            frame = self._decode(self._items[index])
            if sum(a.nbytes for a in frame) * len(self._items) <= self.cache_mb * 2**20:
                for array in frame:
                    array.flags.writeable = False
                self._cache[index] = frame
        return CameraFrame(*frame, self.intrinsics, time.time())

    def _decode(self, item: ReplayItem) -> tuple[np.ndarray, np.ndarray]:
        """(HxWx3 uint8 RGB, HxW uint16 depth in mm) of one recorded frame."""
        try:
            rgb = read_rgb(item.rgb)
            depth = depth_to_metres(read_depth(item.depth), self.depth_unit_m)
        except InputError as error:
            raise CameraError(str(error)) from None
        if rgb.shape[:2] != depth.shape:
            raise CameraError(
                f"{item.rgb.name} is {rgb.shape[1]}x{rgb.shape[0]} but {item.depth.name} is "
                f"{depth.shape[1]}x{depth.shape[0]}: depth must be aligned to colour"
            )
        return rgb, depth_mm(depth)

    def close(self) -> None:
        self._items, self._cache = [], {}


@dataclass(frozen=True)
class SimScene:
    """A simulated table and the camera looking at it.

    seed: the table (objects, their drop poses, colours) and the depth noise follow from it.
    objects: how many are dropped. object_set: 'seen' or 'novel' (grasp_sim.objects).
    eye, target: camera position and the point it looks at, m, world frame (z up, origin
    at the table top's centre). depth_noise: apply grasp_sim.noise's camera model per frame.
    """

    seed: int = 0
    objects: int = 5
    object_set: str = "novel"
    eye: tuple[float, float, float] = (0.35, 0.0, 0.55)
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    depth_noise: bool = True
    intrinsics: CameraIntrinsics = D435_COLOR_640X480


class SimSource:
    """A MuJoCo table (grasp_sim), settled once at open and rendered on every read."""

    def __init__(self, scene: SimScene = SimScene()) -> None:
        self.scene = scene
        self._table: TableScene | None = None

    def open(self) -> None:
        if self._table is not None:
            return
        s = self.scene
        self._rng = np.random.default_rng(s.seed)
        try:
            objects = sample_objects(self._rng, s.objects, s.object_set)
        except ValueError as error:
            raise CameraError(f"simulated table: {error}") from None
        self._table = TableScene(objects, self._rng, s.intrinsics)
        self._table.settle()
        self._pose = look_at(np.asarray(s.eye, float), np.asarray(s.target, float))

    def read(self) -> CameraFrame:
        self.open()
        stamp = time.time()
        frame = self._table.render(self._pose)
        depth = add_depth_noise(frame.depth, self._rng) if self.scene.depth_noise else frame.depth
        return CameraFrame(frame.rgb, depth_mm(depth), frame.intrinsics, stamp)

    def close(self) -> None:
        if self._table is not None:
            self._table.close()
            self._table = None


@dataclass(frozen=True)
class SourceSettings:
    """Everything a source is built from (the driver node's parameters, same names).

    source: one of SOURCES. replay_path: the replay folder; replay_cache_mb: see
    ReplaySource's cache_mb. width, height (px), fps, serial, filters (comma-separated
    FILTERS names), timeout_s: the RealSense streams, see realsense.RealSenseSource.
    seed, objects, object_set, camera_eye, camera_target (m), depth_noise: the simulated
    table, see SimScene.
    """

    source: str = "sim"
    replay_path: str = ""
    replay_cache_mb: float = 1024.0
    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str = ""
    filters: str = ""
    timeout_s: float = 1.0
    seed: int = 0
    objects: int = 5
    object_set: str = "novel"
    camera_eye: tuple[float, ...] = SimScene.eye
    camera_target: tuple[float, ...] = SimScene.target
    depth_noise: bool = True


def make_source(settings: SourceSettings) -> CameraSource:
    """The source ``settings`` describe (not opened yet); CameraError for an unknown one."""
    s = settings
    if s.source == "replay":
        if not s.replay_path:
            raise CameraError("source 'replay' needs replay_path: the folder to play")
        return ReplaySource(s.replay_path, s.replay_cache_mb)
    if s.source == "sim":
        eye, target = tuple(s.camera_eye), tuple(s.camera_target)
        if len(eye) != 3 or len(target) != 3:
            raise CameraError(f"camera_eye {eye} and camera_target {target} need 3 values (m)")
        return SimSource(SimScene(s.seed, s.objects, s.object_set, eye, target, s.depth_noise))
    if s.source == "realsense":
        from grasp_camera.realsense import RealSenseSource, StreamProfile

        filters = tuple(name.strip() for name in s.filters.split(",") if name.strip())
        profile = StreamProfile(s.width, s.height, s.fps, s.serial)
        return RealSenseSource(profile, filters, s.timeout_s)
    raise CameraError(f"source '{s.source}' is not one of {', '.join(SOURCES)}")
