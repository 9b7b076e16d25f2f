"""
The pose pipeline for one camera: ``ros2 launch rgbd_perception pose.launch.py``.

Starts, in the camera's namespace, depth_completion_node (depth/image_raw -> depth/completed),
hha_node on the completed depth (hha/image, the missing-depth mask from the raw depth) and
pose_node (objects/poses, objects/markers, objects/overlay, TF), with mono_depth:=true also
mono_depth_node (rgb/image_raw -> depth/mono), all with the sections of one parameter file,
and RViz with config/rgbd_perception.rviz when rviz:=true.  The camera driver
must publish rgb/image_raw, rgb/camera_info, depth/image_raw (registered to the colour, REP 118)
and depth/camera_info in that namespace.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Start completion, HHA and pose nodes for one camera (monocular depth, RViz on request)."""
    share = get_package_share_directory('rgbd_perception')
    camera = LaunchConfiguration('camera')
    params = LaunchConfiguration('params_file')
    device = {'device': LaunchConfiguration('device')}
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='camera',
                              description='namespace of the camera topics'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config',
                                                         'rgbd_perception.yaml'),
                              description='parameter file with a section per node'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cpu, cuda or cuda:N (every node)'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='also start RViz with config/rgbd_perception.rviz'),
        DeclareLaunchArgument('mono_depth', default_value='false',
                              description='also start mono_depth_node (depth from colour alone)'),
        Node(package='rgbd_perception', executable='depth_completion_node',
             name='depth_completion_node', namespace=camera, parameters=[params, device],
             output='screen'),
        Node(package='rgbd_perception', executable='hha_node', name='hha_node',
             namespace=camera, parameters=[params, device], output='screen',
             remappings=[('depth/image_raw', 'depth/completed'),
                         ('depth/raw/image_raw', 'depth/image_raw')]),
        Node(package='rgbd_perception', executable='pose_node', name='pose_node',
             namespace=camera, parameters=[params, device], output='screen'),
        Node(package='rgbd_perception', executable='mono_depth_node', name='mono_depth_node',
             namespace=camera, parameters=[params, device], output='screen',
             condition=IfCondition(LaunchConfiguration('mono_depth'))),
        Node(package='rviz2', executable='rviz2', name='rviz2',
             arguments=['-d', os.path.join(share, 'config', 'rgbd_perception.rviz')],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ])
