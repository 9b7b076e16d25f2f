"""Tooling around the stages: benchmarks, the ray-cast sample scene, the ROS demo."""
