"""ROS-free core of the grasp stack.

Everything here works on numpy arrays and plain dataclasses; nothing imports rclpy, so the
same code serves the ROS nodes, the command line, training and the tests.
"""

__version__ = "0.1.0"
