"""ament_python package definition of rgbd_perception (also pip-installable in a venv)."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'rgbd_perception'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={'rgbd_perception': ['weights/*.safetensors', 'weights/*.json'],
                  'rgbd_perception.ros': ['fastdds_profile.xml'],
                  'training': ['configs/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        (os.path.join('share', package_name, 'launch'), glob('launch/*.launch.py')),
        (os.path.join('share', package_name, 'config'),
         glob('config/*.yaml') + glob('config/*.rviz')),
        (os.path.join('share', package_name, 'config', 'objects'), glob('config/objects/*.yaml')),
        (os.path.join('share', package_name, 'config', 'objects', 'demo_meshes'),
         glob('config/objects/demo_meshes/*.ply')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='rgbd_perception developers',
    maintainer_email='rgbd-perception@users.noreply.github.com',
    description='RGB-D perception for ROS 2: HHA images, depth completion, monocular depth, '
                '6-DoF object poses.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'rgbd-perception = rgbd_perception.cli:main',
            'hha_node = rgbd_perception.ros.hha_node:main',
            'depth_completion_node = rgbd_perception.ros.depth_completion_node:main',
            'pose_node = rgbd_perception.ros.pose_node:main',
            'mono_depth_node = rgbd_perception.ros.mono_depth_node:main',
            'perception_node = rgbd_perception.ros.perception_node:main',
        ],
    },
)
