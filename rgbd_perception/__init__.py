"""rgbd_perception: RGB-D perception for ROS 2 (HHA, depth completion, 6-DoF object poses)."""

__version__ = '0.1.0'
