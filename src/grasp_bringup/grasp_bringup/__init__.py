"""Bringup of the grasp stack: the node set, per-arm configuration and the in-process runner."""
