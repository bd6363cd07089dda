"""PickObject and CleanTable action servers with a MoveIt (moveit_py) or built-in inverse-kinematics motion backend."""
