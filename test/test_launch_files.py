"""
pose.launch.py and perception.launch.py started for real through launch, fed real frames.

Without a ROS install the launch sources come from ../shared/ros_launch (pure Python, no wheels
exist): they are installed into the venv once (skipped cleanly when that folder is absent).
The launch files are the installed ones (the colcon install of scripts/test: skipped when the
package is not on AMENT_PREFIX_PATH).  Each test starts a LaunchService in its own process in a
namespace of its own, feeds sample frames until every node is up and every output has arrived,
then stops it with SIGINT, as Ctrl-C does.
"""

import importlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
from ros_harness import frame, image_message, info_message, SMALL
from sensor_msgs.msg import CameraInfo, Image

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(900)]

ROS_LAUNCH = Path(__file__).resolve().parents[1].parent / 'shared' / 'ros_launch'
#: The pure-Python sources pip installs from ROS_LAUNCH (see its README).
LAUNCH_SOURCES = ('launch_repo/launch', 'launch_repo/launch_xml', 'launch_repo/launch_yaml',
                  'launch_ros_repo/launch_ros', 'composition_interfaces_standin')
#: Node start-up loads torch and models on 2 cores; only a failing test waits this long.
STARTUP_S = 300.0
INPUTS = {'rgb/image_raw': Image, 'rgb/camera_info': CameraInfo, 'depth/image_raw': Image,
          'depth/camera_info': CameraInfo}
RUN_LAUNCH = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
path, *arguments = sys.argv[1:]
service = LaunchService()
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(path),
    launch_arguments=[argument.split(':=', 1) for argument in arguments]))
sys.exit(service.run())
"""


@pytest.fixture(scope='module')
def launch_file():
    """Return f(name) -> the installed launch file; installs launch into the venv if needed."""
    try:
        importlib.import_module('launch_ros')
    except ImportError:
        if not ROS_LAUNCH.is_dir():
            pytest.skip(f'no ROS launch install and no launch sources at {ROS_LAUNCH}')
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                        '--no-build-isolation', *(str(ROS_LAUNCH / s) for s in LAUNCH_SOURCES)],
                       check=True)
        importlib.invalidate_caches()
    from ament_index_python.packages import get_package_share_directory

    try:
        share = Path(get_package_share_directory('rgbd_perception'))
    except (LookupError, OSError):  # not on AMENT_PREFIX_PATH, or that is unset
        pytest.skip('rgbd_perception is not installed on AMENT_PREFIX_PATH (run scripts/test)')
    return lambda name: share / 'launch' / name


class LaunchProcess:
    """A LaunchService running one launch file in a subprocess; its output goes to a file."""

    def __init__(self, path, arguments, log):
        self.log = log
        with open(log, 'wb') as out:
            self.process = subprocess.Popen(
                [sys.executable, '-c', RUN_LAUNCH, str(path), *arguments],
                env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT)

    def output(self):
        """Return what the launch and its nodes wrote so far."""
        return self.log.read_text(errors='replace')

    def assert_running(self):
        """Fail with the launch output when the launch process has ended."""
        code = self.process.poll()
        assert code is None, f'launch exited with {code}:\n{self.output()}'

    def stop(self):
        """SIGINT (Ctrl-C), then kill after 60 s; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def run_until_every_output(client, launch, nodes, outputs):
    """Feed a sample frame twice a second until ``nodes`` run and each output has arrived."""
    namespace = client.client_node.get_namespace()
    deadline = time.monotonic() + STARTUP_S
    sample, seconds = frame(0), 0.0

    def running():
        found = set(client.client_node.get_node_names_and_namespaces())
        return all((name, namespace) in found for name in nodes)
    while not (running() and all(client.messages(topic) for topic in outputs)):
        assert time.monotonic() < deadline, (
            f'after {STARTUP_S} s: nodes {client.client_node.get_node_names_and_namespaces()}, '
            f'outputs {[t for t in outputs if client.messages(t)]}:\n{launch.output()}')
        seconds += 0.5
        client.publish('rgb/image_raw', image_message(sample.rgb, 'rgb8', seconds))
        client.publish('depth/image_raw', image_message(sample.depth_mm, '16UC1', seconds))
        for topic in ('rgb/camera_info', 'depth/camera_info'):
            client.publish(topic, info_message(sample.intrinsics, SMALL, seconds))
        client.spin_until(lambda: False, 0.5, launch.assert_running)


@pytest.mark.parametrize('name, nodes, outputs', [
    ('pose.launch.py', ('depth_completion_node', 'hha_node', 'pose_node'),
     ('depth/completed', 'hha/image', 'objects/poses')),
    ('perception.launch.py', ('perception_node',),
     ('depth/completed', 'hha/image', 'objects/poses', 'depth/mono')),
], ids=['pose', 'perception'])
def test_launch_file_brings_up_its_nodes_and_they_publish(launch_file, make_client, tmp_path,
                                                          name, nodes, outputs):
    """Every node of the launch file comes up in the camera namespace and publishes."""
    from geometry_msgs.msg import PoseArray

    camera = f'launch_{name.split(".")[0]}_{os.getpid()}'
    launch = LaunchProcess(launch_file(name), [f'camera:={camera}', 'device:=cpu'],
                           tmp_path / 'launch.log')
    try:
        client = make_client(f'/{camera}', inputs=INPUTS, outputs={
            topic: PoseArray if topic == 'objects/poses' else Image for topic in outputs})
        run_until_every_output(client, launch, nodes, outputs)
    finally:
        launch.stop()
    assert 'Traceback' not in launch.output()
