"""Camera driver node of the grasp stack: RealSense (pyrealsense2), simulated table, replay of recorded frames; Kinect through its own driver by remapping."""
