"""PickObject and CleanTable action servers over a MoveIt (moveit_py) or a built-in
inverse-kinematics motion backend."""
