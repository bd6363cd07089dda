"""Grasp inference node: serves GR-ConvNet, GG-CNN2 or SSG through ONNX Runtime on the
camera's frames."""
