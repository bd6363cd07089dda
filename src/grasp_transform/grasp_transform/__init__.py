"""Image-space grasps plus aligned depth and intrinsics to 6-DoF grasps in the robot base
frame."""
