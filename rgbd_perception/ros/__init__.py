"""ROS 2 layer: nodes and their plumbing (with tools.demo, the only code importing rclpy)."""
