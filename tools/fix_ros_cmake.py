"""Point the ROS 2 wheels' exported CMake targets at this machine's Python.

The PyPI wheels of ROS 2 Jazzy were built on a manylinux image, and their exported
``*Export*.cmake`` files name that image's Python include directories. CMake refuses
targets whose include directories do not exist, so building any interface package
against the wheels fails until those paths name the local interpreter's headers and
the venv's numpy headers. Idempotent: a second run finds nothing to rewrite.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# The wheels' build image; any CPython version it used is rewritten.
BUILD_PYTHON = re.compile(r"/opt/python/cp3\d+-cp3\d+")


def local_paths() -> dict[str, str]:
    """Map each build-image path pattern to its local counterpart."""
    return {
        "python_include": sysconfig.get_paths()["include"],
        "numpy_include": numpy.get_include(),
    }


def rewrite(text: str, paths: dict[str, str]) -> str:
    """Return ``text`` with the build image's Python and numpy include dirs replaced."""
    text = re.sub(
        BUILD_PYTHON.pattern + r"/lib/python3\.\d+/site-packages/numpy/_core/include",
        paths["numpy_include"],
        text,
    )
    return re.sub(BUILD_PYTHON.pattern + r"/include/python3\.\d+", paths["python_include"], text)


def main(prefix: Path) -> int:
    paths = local_paths()
    changed = 0
    for cmake_file in sorted((prefix / "share").glob("**/*.cmake")):
        text = cmake_file.read_text()
        if not BUILD_PYTHON.search(text):
            continue
        cmake_file.write_text(rewrite(text, paths))
        changed += 1
    print(f"fix_ros_cmake: rewrote {changed} CMake file(s) under {prefix / 'share'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix)))
