"""ROS 2 layer: the only part of rgbd_perception that imports rclpy."""
