"""
Every output of one camera in one process: ``ros2 launch rgbd_perception perception.launch.py``.

Starts perception_node in the camera's namespace (depth/completed, hha/image of the completed
depth, objects/poses + markers + overlay + TF, depth/mono; each stage at its own pace) with
config/perception_node.yaml or params_file, the device and the outputs chosen by arguments,
and RViz with config/rgbd_perception.rviz when rviz:=true.  The camera driver must publish
rgb/image_raw, rgb/camera_info and depth/image_raw (registered to the colour, REP 118) in that
namespace.  The single-capability nodes stay available (pose.launch.py and the others).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

#: Launch argument -> perception_node parameter of each output.
OUTPUT_ARGUMENTS = {'completed': 'publish_completed', 'hha': 'publish_hha',
                    'poses': 'publish_poses', 'mono': 'publish_mono'}


def generate_launch_description():
    """Start perception_node for one camera (RViz on request)."""
    share = get_package_share_directory('rgbd_perception')
    outputs = {parameter: ParameterValue(LaunchConfiguration(argument), value_type=bool)
               for argument, parameter in OUTPUT_ARGUMENTS.items()}
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='camera',
                              description='namespace of the camera topics'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config',
                                                         'perception_node.yaml'),
                              description='perception_node parameter file'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cpu, cuda or cuda:N'),
        *[DeclareLaunchArgument(argument, default_value='true',
                                description=f'publish the {argument} output')
          for argument in OUTPUT_ARGUMENTS],
        DeclareLaunchArgument('rviz', default_value='false',
                              description='also start RViz with config/rgbd_perception.rviz'),
        Node(package='rgbd_perception', executable='perception_node', name='perception_node',
             namespace=LaunchConfiguration('camera'), output='screen',
             parameters=[LaunchConfiguration('params_file'),
                         {'device': LaunchConfiguration('device'), **outputs}]),
        Node(package='rviz2', executable='rviz2', name='rviz2',
             arguments=['-d', os.path.join(share, 'config', 'rgbd_perception.rviz')],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ])
