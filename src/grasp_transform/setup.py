"""Setuptools entry for colcon (ament_python); the metadata lives in pyproject.toml.

The data files register the package in the ament index so that `ros2 pkg` and launch
files on a ROS install find it; pip installs them harmlessly under the environment's share/.
"""

from setuptools import setup

PACKAGE = "grasp_transform"

setup(
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    entry_points={"console_scripts": [f"transform_node = {PACKAGE}.node:main"]},
)
