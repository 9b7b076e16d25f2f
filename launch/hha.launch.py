"""Launch hha_node for one camera: ``ros2 launch rgbd_perception hha.launch.py``."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Start hha_node in the camera namespace with the packaged parameter file."""
    default_params = os.path.join(get_package_share_directory('rgbd_perception'), 'config',
                                  'hha_node.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='camera',
                              description='namespace of the camera topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameter file of hha_node'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cpu, cuda or cuda:N'),
        Node(
            package='rgbd_perception',
            executable='hha_node',
            name='hha_node',
            namespace=LaunchConfiguration('camera'),
            parameters=[LaunchConfiguration('params_file'),
                        {'device': LaunchConfiguration('device')}],
            output='screen',
        ),
    ])
