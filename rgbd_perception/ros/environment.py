"""
ROS middleware settings for venv mode (no ROS install): large images, local discovery.

Imported before rclpy initialises, so it must not import rclpy itself.
"""

import os

from rgbd_perception.io.data_paths import package_file

FASTDDS_PROFILE = 'fastdds_profile.xml'


def fastdds_profile_path():
    """Return the path of the Fast DDS profile shipped with the package."""
    return str(package_file('ros', FASTDDS_PROFILE))


def configure_venv_middleware(environ=None):
    """
    Set the middleware variables the project relies on, unless the user set them.

    - FASTDDS_DEFAULT_PROFILES_FILE: shared-memory profile so VGA images cross processes
      at 30 Hz (Fast DDS defaults drop most of them);
    - ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (ROS_LOCALHOST_ONLY is ignored in Kilted);
    - RMW_IMPLEMENTATION=rmw_fastrtps_cpp, the middleware the wheels provide.
    Returns the dict of variables that were set.
    """
    environ = os.environ if environ is None else environ
    wanted = {
        'FASTDDS_DEFAULT_PROFILES_FILE': fastdds_profile_path(),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
    }
    applied = {}
    for name, value in wanted.items():
        if not environ.get(name):
            environ[name] = value
            applied[name] = value
    return applied
