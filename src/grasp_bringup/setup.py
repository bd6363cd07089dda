"""Setuptools entry for colcon (ament_python); the metadata lives in pyproject.toml.

The data files register the package in the ament index and install the launch files, the
bringup and per-arm configuration, the Fast DDS profile, the RViz config and the shipped
models (launch/ and models/ are links to the repository's top-level folders) into
share/grasp_bringup.
"""

from glob import glob

from setuptools import setup

PACKAGE = "grasp_bringup"

setup(
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/arms", glob("config/arms/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md")),
    ],
    entry_points={"console_scripts": [f"runner = {PACKAGE}.runner:main"]},
)
