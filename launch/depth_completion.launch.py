"""Launch depth_completion_node for one camera (`ros2 launch rgbd_perception ...`)."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Start depth_completion_node in the camera namespace with the packaged parameters."""
    default_params = os.path.join(get_package_share_directory('rgbd_perception'), 'config',
                                  'depth_completion_node.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='camera',
                              description='namespace of the camera topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameter file of depth_completion_node'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cpu, cuda or cuda:N'),
        DeclareLaunchArgument('method', default_value='model',
                              description='model (learned) or ip_basic (classical)'),
        DeclareLaunchArgument('publish_hha', default_value='false',
                              description='also publish hha/image from the completed depth'),
        Node(
            package='rgbd_perception',
            executable='depth_completion_node',
            name='depth_completion_node',
            namespace=LaunchConfiguration('camera'),
            parameters=[LaunchConfiguration('params_file'),
                        {'device': LaunchConfiguration('device'),
                         'method': LaunchConfiguration('method'),
                         'publish_hha': LaunchConfiguration('publish_hha')}],
            output='screen',
        ),
    ])
