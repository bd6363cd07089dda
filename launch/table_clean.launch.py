"""ros2 launch grasp_bringup table_clean.launch.py arm:=ur5 model:=grconvnet sim:=true rviz:=true

Starts the node set of config/table_clean.yaml (grasp_bringup.node_set), the same one the
in-process runner starts, plus RViz when rviz:=true, with Fast DDS reading config/fastdds.xml
(unless the environment names a profile already): without it camera images between the
processes are lost.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch_ros.actions import Node

from grasp_bringup.dds import profile_environment
from grasp_bringup.node_set import load_node_set, truthy

SHARE = Path(get_package_share_directory("grasp_bringup"))
CONFIG = SHARE / "config" / "table_clean.yaml"


def nodes(context):
    defaults, _ = load_node_set(CONFIG, share=SHARE)
    given = {name: context.launch_configurations[name] for name in defaults}
    args, specs = load_node_set(CONFIG, given, share=SHARE)
    actions = [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            parameters=[spec.parameters],
            output="screen",
        )
        for spec in specs
    ]
    if truthy(args["rviz"]):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", str(SHARE / "rviz" / "table_clean.rviz")],
                output="screen",
            )
        )
    return actions


def generate_launch_description():
    defaults, _ = load_node_set(CONFIG, share=SHARE)
    declared = [
        DeclareLaunchArgument(name, default_value=str(value).lower() if isinstance(value, bool)
                              else str(value))
        for name, value in defaults.items()
    ]  # fmt: skip
    profile = [
        SetEnvironmentVariable(name, value)
        for name, value in profile_environment(SHARE / "config" / "fastdds.xml").items()
    ]
    return LaunchDescription([*declared, *profile, OpaqueFunction(function=nodes)])
