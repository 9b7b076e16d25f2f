"""rgbd_perception: RGB-D perception for ROS 2 (HHA, depth completion, mono depth, poses)."""

__version__ = '0.1.0'
