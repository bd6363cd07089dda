"""How the threads of one ROS process take turns at the Python interpreter and the cores.

A node's executor threads (deserialising 640x480 images at 30 Hz), its worker threads (an
inference's pre- and post-processing) and, in the in-process runner, every other node share
one interpreter lock. A thread that lets go of it for a C call (OpenCV, numpy, ONNX Runtime,
DDS) must wait, once the call returns, until the thread that took over gives it back, which
CPython forces only every switch interval: 5 ms by default, and a frame's processing makes
dozens of such calls. The 30 Hz soak (camera, inference and transform in one process on 2
cores, 1 minute) measured with 5 ms and with 1 ms: 24.9 against 30.0 frames/s in, 6.3
against 14.1 detections/s out, preprocessing 21.8 against 9.9 ms (medians); 0.5 ms gave
no more than 1 ms.

OpenCV's own thread pool is left out of a node process: on the small images a frame goes
through (a 480x480 crop, 224x224 maps) the hand-offs to its workers cost more than they
save while the cores are busy with the model, DDS and the other nodes. With each node in
its own process on 2 cores (`soak.py --processes`, 1 minute at 30 Hz), the pipeline
overhead under load was 4.67-5.69 ms, median 4.97, over seven runs single-threaded, against
5.29-6.51 ms, median 5.67, over eight with OpenCV's default pool (five pairs of them run
one after the other); at 2 Hz, with nothing else running, 5.2-5.8 ms either way.
"""

from __future__ import annotations

import sys

import cv2

SWITCH_INTERVAL_S = 0.001
"""How long, s, a thread may keep the interpreter while another waits for it."""


def share_interpreter(interval_s: float = SWITCH_INTERVAL_S) -> None:
    """Set this process's switch interval (s): call once where a process starts its nodes."""
    sys.setswitchinterval(interval_s)


def share_cores() -> None:
    """Run OpenCV's calls on the calling thread, without its worker pool: call once where a
    process starts its nodes."""
    cv2.setNumThreads(1)
