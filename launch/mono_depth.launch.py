"""Launch mono_depth_node for one camera (`ros2 launch rgbd_perception ...`)."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Start mono_depth_node in the camera namespace with the packaged parameters."""
    default_params = os.path.join(get_package_share_directory('rgbd_perception'), 'config',
                                  'mono_depth_node.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='camera',
                              description='namespace of the camera topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameter file of mono_depth_node'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cpu, cuda or cuda:N'),
        Node(
            package='rgbd_perception',
            executable='mono_depth_node',
            name='mono_depth_node',
            namespace=LaunchConfiguration('camera'),
            parameters=[LaunchConfiguration('params_file'),
                        {'device': LaunchConfiguration('device')}],
            output='screen',
        ),
    ])
