"""Turns image-space grasps plus aligned depth and intrinsics into 6-DoF grasps in the robot base frame."""
