"""The simulated table: MuJoCo scenes of household objects, a D435-like camera, dense grasp
labels, data generation and simulated grasp trials. ROS-free."""

import os

# MuJoCo renders off-screen through EGL, which needs no display; it reads this variable
# when first imported, so it is set before any module of this package imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")
