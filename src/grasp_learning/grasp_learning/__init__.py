"""Training side of the grasp stack: torch networks, datasets, training, export to ONNX.

Nothing here is on a node's run-time path; nodes serve the exported ONNX files through
grasp_core.
"""
