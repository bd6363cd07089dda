"""One arm's configuration: the per-arm YAML of src/grasp_bringup/config/arms/ and the
kinematic tree of its URDF, shared by the executor (kinematics) and the simulator (the arm
it builds).

Frames: poses are 4x4 homogeneous transforms in the arm's base frame (``base_link``), m;
joint positions are in rad, in the order of ``joint_names``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from grasp_core.frames import transform_from_dict
from grasp_core.gripper import GripperSpec
from grasp_core.workspace import Workspace


def robots_folder() -> Path:
    """example-robot-data's robots folder, where relative ``urdf`` paths start."""
    dist = importlib.metadata.distribution("example-robot-data")
    return Path(str(dist.locate_file("cmeel.prefix/share/example-robot-data/robots")))


def resolve_urdf(urdf: str) -> Path:
    """The file of a config's ``urdf``: absolute, ``package://<python package>/<path>``
    inside an installed Python package, or relative to example-robot-data's robots folder."""
    if urdf.startswith("package://"):
        package, _, inside = urdf.removeprefix("package://").partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"urdf {urdf}: Python package {package!r} is not installed")
        return Path(spec.submodule_search_locations[0]) / inside
    path = Path(urdf)
    return path if path.is_absolute() else robots_folder() / path


@dataclass(frozen=True)
class ArmConfig:
    """One arm's configuration, read from src/grasp_bringup/config/arms/<arm>.yaml.

    urdf: the arm's URDF (or xacro) file. base_link: the base frame every pose and limit is
    expressed in; flange_link: the link the gripper is mounted on. joint_names: the actuated
    joints in command order; home: their observation pose, rad. tool_offset: 4x4 flange ->
    grasp frame, m. max_joint_speed: rad/s, every joint. gripper: the parallel gripper
    mounted on the flange. workspace: box of allowed grasp-frame positions, base frame.
    places: named grasp-frame positions (3,), m, base frame. camera: 4x4 camera optical
    frame -> base frame. table_center: table top centre (3,), table_size: (sx, sy), m, base
    frame (simulation only). link_radius: m, radius of the capsules that stand for the
    links in simulation.
    """

    arm: str
    urdf: Path
    base_link: str
    flange_link: str
    joint_names: tuple[str, ...]
    home: np.ndarray
    tool_offset: np.ndarray
    max_joint_speed: float
    gripper: GripperSpec
    workspace: Workspace
    places: dict[str, np.ndarray]
    camera: np.ndarray
    table_center: np.ndarray
    table_size: np.ndarray
    link_radius: float


_REQUIRED = (
    "arm",
    "urdf",
    "base_link",
    "flange_link",
    "joint_names",
    "home",
    "tool_offset",
    "max_joint_speed",
    "gripper",
    "workspace",
    "places",
    "camera",
    "table",
)


def load_arm_config(path: str | Path) -> ArmConfig:
    """The ArmConfig of a per-arm YAML; ValueError naming the file and key when malformed."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of the arm's configuration")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    try:
        urdf = resolve_urdf(str(data["urdf"]))
        if not urdf.is_file():
            raise ValueError(f"urdf {urdf} does not exist")
        joints = tuple(str(name) for name in data["joint_names"])
        home = np.asarray(data["home"], np.float64)
        if home.shape != (len(joints),):
            raise ValueError(f"home has {home.size} values for {len(joints)} joints")
        offset = data["tool_offset"]
        tool = np.eye(4)
        # URDF's roll-pitch-yaw: about the fixed x, y, z axes in turn.
        rpy = np.asarray(offset.get("rpy", [0, 0, 0]), np.float64)
        tool[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
        tool[:3, 3] = np.asarray(offset["xyz"], np.float64)
        speed = float(data["max_joint_speed"])
        if speed <= 0:
            raise ValueError(f"max_joint_speed must be > 0 rad/s, got {speed}")
        workspace = Workspace.from_config(data["workspace"])
        places = {k: np.asarray(v, np.float64) for k, v in data["places"].items()}
        outside = [k for k, v in places.items() if v.shape != (3,) or not workspace.contains(v)]
        if outside:
            raise ValueError(f"places {outside} must be [x, y, z] m inside the workspace")
        return ArmConfig(
            arm=str(data["arm"]),
            urdf=urdf,
            base_link=str(data["base_link"]),
            flange_link=str(data["flange_link"]),
            joint_names=joints,
            home=home,
            tool_offset=tool,
            max_joint_speed=speed,
            gripper=GripperSpec(**data["gripper"]),
            workspace=workspace,
            places=places,
            camera=transform_from_dict(data["camera"]),
            table_center=np.asarray(data["table"]["center"], np.float64),
            table_size=np.asarray(data["table"]["size"], np.float64),
            link_radius=float(data.get("link_radius", 0.04)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def urdf_kinematic_xml(urdf: Path, flange_link: str) -> ET.Element:
    """The URDF tree without visuals and collisions, without whatever the URDF mounts past
    the flange, and with continuous joints made revolute.

    The stack's gripper replaces the URDF's own hand; meshes are not needed for kinematics
    and come in formats MuJoCo cannot read (.dae); a continuous joint would be two
    coordinates (cos, sin) in pinocchio, and one angle within +-2 pi everywhere else.
    A .xacro file is expanded with its default arguments first.
    """
    if urdf.suffix == ".xacro":
        import xacro  # only the arms described in xacro need it

        root = ET.fromstring(xacro.process_file(str(urdf)).toxml())
    else:
        root = ET.parse(urdf).getroot()
    joints = root.findall("joint")
    past_flange, grew = set(), True
    while grew:
        children = {
            j.find("child").get("link")
            for j in joints
            if j.find("parent").get("link") in past_flange | {flange_link}
        }
        grew = not children <= past_flange
        past_flange |= children
    for element in root.findall("link") + joints:
        name = element.get("name") if element.tag == "link" else element.find("child").get("link")
        if name in past_flange:
            root.remove(element)
    for link in root.iter("link"):
        for tag in ("visual", "collision"):
            for element in link.findall(tag):
                link.remove(element)
    for joint in root.iter("joint"):
        if joint.get("type") == "continuous":
            joint.set("type", "revolute")
            limit = joint.find("limit")
            if limit is None:
                limit = ET.SubElement(joint, "limit", effort="10", velocity="1")
            limit.set("lower", f"{-2 * math.pi}")
            limit.set("upper", f"{2 * math.pi}")
    return root
