"""Setuptools entry for colcon (ament_python); the metadata lives in pyproject.toml."""

from setuptools import setup

PACKAGE = "grasp_sim"

setup(
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    entry_points={"console_scripts": [f"sim_node = {PACKAGE}.node:main"]},
)
