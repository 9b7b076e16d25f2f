"""hha_node started through the CLI in its own process, fed over real topics from this one."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.tools.sample_scene import sample_frame

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / 'config' / 'hha_node.yaml'
FRAME_ID = 'camera_depth_optical_frame'
#: Start-up imports torch and may take several seconds.
STARTUP_S = 60.0
#: Frames timed at about 10 Hz and the stamp of the first one.
NUM_FRAMES = 10
FIRST_STAMP = 100.0
PERIOD_S = 0.1


def stamp(seconds):
    """Return a builtin_interfaces/Time for float seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def stamp_key(msg):
    """Header stamp of a message as an exact (sec, nanosec) pair."""
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def frame_messages(sample, seconds):
    """Return (depth 16UC1, camera_info) of a sample frame stamped at ``seconds``."""
    header = Header(stamp=stamp(seconds), frame_id=FRAME_ID)
    depth = numpy_to_image(sample.depth_mm, '16UC1', header=header)
    fx, fy, cx, cy = sample.intrinsics
    info = CameraInfo(header=header, width=depth.width, height=depth.height,
                      distortion_model='plumb_bob', d=[0.0] * 5,
                      k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
    return depth, info


def hha_of(msg):
    """Decode an rgb8 hha/image message to (H, W, 3) uint8."""
    assert msg.encoding == 'rgb8'
    return np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)


class NodeProcess:
    """``rgbd-perception node hha`` in a subprocess; its output goes to files."""

    def __init__(self, directory, ros_args):
        self.stdout_path = directory / 'node.stdout'
        self.stderr_path = directory / 'node.stderr'
        command = [sys.executable, '-m', 'rgbd_perception.cli', 'node', 'hha',
                   '--ros-args', *ros_args]
        with open(self.stdout_path, 'wb') as out, open(self.stderr_path, 'wb') as err:
            self.process = subprocess.Popen(command, cwd=REPO, env=os.environ.copy(),
                                            stdout=out, stderr=err)

    def stderr(self):
        """Return what the node wrote to stderr so far."""
        return self.stderr_path.read_text(errors='replace')

    def assert_running(self):
        """Fail with the node's stderr when the process has ended."""
        code = self.process.poll()
        assert code is None, f'node exited with {code}:\n{self.stderr()}'

    def interrupt(self, timeout=10.0):
        """Send SIGINT (as Ctrl-C) and return the exit status (fails after ``timeout``)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f'node did not exit within {timeout} s of SIGINT:\n{self.stderr()}')

    def kill(self):
        """Kill the process if it still runs (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Feeder:
    """A node of the test process that publishes depth frames and collects HHA images."""

    def __init__(self, context, namespace, reliability='best_effort'):
        self.node = Node('hha_feeder', namespace=namespace, context=context)
        qos = qos_profile(reliability, 10)
        self.depth_pub = self.node.create_publisher(Image, 'depth/image_raw', qos)
        self.info_pub = self.node.create_publisher(CameraInfo, 'depth/camera_info', qos)
        # Only used when a params file turns on mask_from_raw_depth; harmless otherwise.
        self.raw_pub = self.node.create_publisher(Image, 'depth/raw/image_raw', qos)
        self.received = []
        self.hha_sub = self.node.create_subscription(
            Image, 'hha/image', self.received.append, qos_profile('best_effort', 10))
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)

    def close(self):
        """Stop spinning and destroy the node."""
        self.executor.shutdown()
        self.node.destroy_node()

    def spin_until(self, predicate, timeout, node_process=None):
        """Spin until ``predicate()`` or ``timeout`` s; fail early if the node died."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if node_process is not None:
                node_process.assert_running()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return predicate()
            self.executor.spin_once(timeout_sec=min(0.02, remaining))
        return True

    def wait_matched(self, node_process):
        """Wait until the node's subscriptions and its hha/image publisher are matched."""
        matched = self.spin_until(
            lambda: self.depth_pub.get_subscription_count() > 0
            and self.info_pub.get_subscription_count() > 0
            and self.hha_sub.get_publisher_count() > 0, STARTUP_S, node_process)
        assert matched, f'node did not come up within {STARTUP_S} s:\n{node_process.stderr()}'

    def send(self, sample, seconds):
        """Publish the depth, camera_info and raw depth of one sample frame."""
        depth, info = frame_messages(sample, seconds)
        self.depth_pub.publish(depth)
        self.info_pub.publish(info)
        self.raw_pub.publish(depth)

    def warm_up(self, sample, node_process, timeout=30.0):
        """
        Send one frame a second until an HHA image comes back, then drain the rest.

        The first frame pays for torch's lazy initialisation (about a second at VGA on a
        CPU) and best-effort discovery may lose the very first message; neither is what
        the timed frames measure.
        """
        deadline = time.monotonic() + timeout
        seconds = 1.0
        while not self.received:
            assert time.monotonic() < deadline, (
                f'no HHA image within {timeout} s:\n{node_process.stderr()}')
            self.send(sample, seconds)
            seconds += 1.0
            self.spin_until(lambda: bool(self.received), 1.0, node_process)
        self.spin_until(lambda: False, 2.0, node_process)
        return self.received[0]


@pytest.fixture
def cleanup():
    """Collect objects with a clean-up method and call it after the test."""
    pending = []
    yield pending.append
    for obj, method in reversed(pending):
        getattr(obj, method)()


def test_cli_node_publishes_hha_of_every_frame(context, tmp_path, cleanup):
    """The CLI-started node turns ~10 Hz VGA depth into the HHA of HhaStage, frame by frame."""
    # The node's default keep-last-5 history drops frames whenever it runs slower than the
    # 10 Hz input (a loaded 2-core CPU); a history of NUM_FRAMES makes the count exact.
    node_process = NodeProcess(tmp_path, ['-r', '__ns:=/xproc', '-p', 'device:=cpu',
                                          '-p', f'qos_depth:={NUM_FRAMES}'])
    cleanup((node_process, 'kill'))
    feeder = Feeder(context, '/xproc')
    cleanup((feeder, 'close'))

    # Rendered and encoded while the node starts up.
    samples = [sample_frame(i) for i in range(NUM_FRAMES + 1)]
    stage = HhaStage(device='cpu')
    expected = {stamp_key(frame_messages(s, FIRST_STAMP + i * PERIOD_S)[0]):
                stage(s.depth_mm, Intrinsics(*s.intrinsics))
                for i, s in enumerate(samples[1:])}

    feeder.wait_matched(node_process)
    feeder.warm_up(samples[0], node_process)
    feeder.received.clear()

    next_time = time.monotonic()
    for i, sample in enumerate(samples[1:]):
        feeder.spin_until(lambda: time.monotonic() >= next_time, 1.0)
        feeder.send(sample, FIRST_STAMP + i * PERIOD_S)
        next_time += PERIOD_S
    feeder.spin_until(lambda: len(feeder.received) >= NUM_FRAMES, 20.0, node_process)

    stamps = [stamp_key(msg) for msg in feeder.received]
    assert len(stamps) == len(set(stamps)), f'duplicate HHA images: {stamps}'
    assert len(feeder.received) >= NUM_FRAMES - 2, (
        f'only {len(stamps)} of {NUM_FRAMES} frames came back: {stamps}\n'
        f'{node_process.stderr()}')
    for msg in feeder.received:
        assert stamp_key(msg) in expected, f'unexpected stamp {stamp_key(msg)}'
        assert msg.header.frame_id == FRAME_ID
        np.testing.assert_array_equal(hha_of(msg), expected[stamp_key(msg)])

    assert node_process.interrupt() == 0
    stderr = node_process.stderr()
    assert 'Traceback' not in stderr, stderr
    assert 'frame skipped' not in stderr, stderr


def test_cli_node_accepts_params_file(context, tmp_path, cleanup):
    """The node starts with config/hha_node.yaml, serves a frame and stops cleanly."""
    if not PARAMS_FILE.is_file():
        pytest.skip(f'{PARAMS_FILE} does not exist')
    node_process = NodeProcess(tmp_path, ['-r', '__ns:=/xproc_params',
                                          '--params-file', str(PARAMS_FILE),
                                          '-p', 'device:=cpu'])
    cleanup((node_process, 'kill'))
    # Reliable publishers match whichever input reliability the file chooses.
    feeder = Feeder(context, '/xproc_params', reliability='reliable')
    cleanup((feeder, 'close'))

    feeder.wait_matched(node_process)
    sample = sample_frame(0)
    msg = feeder.warm_up(sample, node_process)
    assert (msg.width, msg.height) == (sample.depth_mm.shape[1], sample.depth_mm.shape[0])
    assert msg.encoding == 'rgb8'

    assert node_process.interrupt() == 0
    stderr = node_process.stderr()
    assert 'Traceback' not in stderr, stderr
