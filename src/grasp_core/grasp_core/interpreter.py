"""How the threads of one ROS process take turns at the Python interpreter.

A node's executor threads (deserialising 640x480 images at 30 Hz), its worker threads (an
inference's pre- and post-processing) and, in the in-process runner, every other node share
one interpreter lock. A thread that lets go of it for a C call (OpenCV, numpy, ONNX Runtime,
DDS) must wait, once the call returns, until the thread that took over gives it back, which
CPython forces only every switch interval: 5 ms by default, and a frame's processing makes
dozens of such calls. The 30 Hz soak (camera, inference and transform in one process on 2
cores, 1 minute) measured with 5 ms and with 1 ms: 24.9 against 30.0 frames/s in, 6.3
against 14.1 detections/s out, preprocessing 21.8 against 9.9 ms (medians); 0.5 ms gave
no more than 1 ms.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.001
"""How long, s, a thread may keep the interpreter while another waits for it."""


def share_interpreter(interval_s: float = SWITCH_INTERVAL_S) -> None:
    """Set this process's switch interval (s): call once where a process starts its nodes."""
    sys.setswitchinterval(interval_s)
