"""Camera driver node: RealSense (pyrealsense2), a simulated table, or replay of recorded
frames; a Kinect is used through its own driver by remapping its topics."""
