"""
Offline reproduction of the project's models: data, synthetic world, training, evaluation.

Imports rgbd_perception's models and geometry, never rclpy. Entry point:
``python -m training <command>``.
"""
