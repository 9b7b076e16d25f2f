"""hha_node started through the CLI in its own process, fed over real topics from this one."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ros_harness import (FRAME_ID, image_message, info_message, seconds_of, stamp_key,
                         WAIT_S)
from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.tools.sample_scene import sample_frame

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / 'config' / 'hha_node.yaml'
#: Start-up imports torch and may take several seconds.
STARTUP_S = 60.0
#: Frames timed at about 10 Hz and the stamp of the first one.
NUM_FRAMES = 10
FIRST_STAMP = 100.0
PERIOD_S = 0.1
#: The node's inputs; depth/raw/image_raw is only taken when a params file turns on
#: mask_from_raw_depth, so the feeder does not wait for a subscriber to it.
INPUTS = {'depth/image_raw': Image, 'depth/camera_info': CameraInfo,
          'depth/raw/image_raw': Image}
REQUIRED_INPUTS = ('depth/image_raw', 'depth/camera_info')
HHA = 'hha/image'


def frame_messages(sample, seconds):
    """Return (depth 16UC1, camera_info) of a sample frame stamped at ``seconds``."""
    depth = image_message(sample.depth_mm, '16UC1', seconds)
    return depth, info_message(sample.intrinsics, (depth.width, depth.height), seconds)


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


def send(feeder, sample, seconds):
    """Publish the depth, camera_info and raw depth of one sample frame."""
    depth, info = frame_messages(sample, seconds)
    feeder.publish('depth/image_raw', depth)
    feeder.publish('depth/camera_info', info)
    feeder.publish('depth/raw/image_raw', depth)


def wait_for_node(feeder, node_process):
    """Wait until the node in ``node_process`` subscribes the inputs and publishes HHA."""
    matched = feeder.spin_until(lambda: feeder.matched(REQUIRED_INPUTS), STARTUP_S,
                                node_process.assert_running)
    assert matched, f'node did not come up within {STARTUP_S} s:\n{node_process.stderr()}'


def warm_up(feeder, sample, node_process, timeout=WAIT_S):
    """
    Send one frame a second until an HHA image comes back, then wait for the last one sent.

    The first frame pays for torch's lazy initialisation (about a second at VGA on a
    CPU) and best-effort discovery may lose the very first message; neither is what
    the timed frames measure.  On a loaded machine several warm-up frames may be queued at
    the node; the HHA of the last one sent comes after all of them.
    """
    received = feeder.messages(HHA)
    deadline = time.monotonic() + timeout
    seconds = 0.0
    while not received:
        assert time.monotonic() < deadline, (
            f'no HHA image within {timeout} s:\n{node_process.stderr()}')
        seconds += 1.0
        send(feeder, sample, seconds)
        feeder.spin_until(lambda: bool(received), 1.0, node_process.assert_running)
    feeder.spin_until(lambda: seconds_of(received[-1]) == seconds, timeout,
                      node_process.assert_running)
    return received[0]


@pytest.fixture
def start_node(tmp_path):
    """Return start(ros_args) -> NodeProcess; every node started is killed after the test."""
    started = []

    def start(ros_args):
        started.append(NodeProcess(tmp_path, ros_args))
        return started[-1]

    yield start
    for node_process in started:
        node_process.kill()


@pytest.fixture
def make_feeder(make_client):
    """Return make(namespace, reliability): a client that feeds the node and collects HHA."""
    def make(namespace, reliability='best_effort'):
        return make_client(namespace, inputs=INPUTS, outputs={HHA: Image},
                           input_qos=qos_profile(reliability, 10),
                           output_qos=qos_profile('best_effort', 10))

    return make


def test_cli_node_publishes_hha_of_every_frame(start_node, make_feeder):
    """The CLI-started node turns ~10 Hz VGA depth into the HHA of HhaStage, frame by frame."""
    # The node's default keep-last-5 history drops frames whenever it runs slower than the
    # 10 Hz input (a loaded 2-core CPU); a history of NUM_FRAMES makes the count exact.
    node_process = start_node(['-r', '__ns:=/xproc', '-p', 'device:=cpu',
                               '-p', f'qos_depth:={NUM_FRAMES}'])
    feeder = make_feeder('/xproc')

    # Rendered and encoded while the node starts up.
    samples = [sample_frame(i) for i in range(NUM_FRAMES + 1)]
    stage = HhaStage(device='cpu')
    expected = {stamp_key(frame_messages(s, FIRST_STAMP + i * PERIOD_S)[0]):
                stage(s.depth_mm, Intrinsics(*s.intrinsics))
                for i, s in enumerate(samples[1:])}

    wait_for_node(feeder, node_process)
    warm_up(feeder, samples[0], node_process)
    received = feeder.messages(HHA)
    received.clear()

    next_time = time.monotonic()
    for i, sample in enumerate(samples[1:]):
        feeder.spin_until(lambda: time.monotonic() >= next_time, 1.0)
        send(feeder, sample, FIRST_STAMP + i * PERIOD_S)
        next_time += PERIOD_S
    feeder.spin_until(lambda: len(received) >= NUM_FRAMES, WAIT_S, node_process.assert_running)

    stamps = [stamp_key(msg) for msg in received]
    assert len(stamps) == len(set(stamps)), f'duplicate HHA images: {stamps}'
    assert len(received) >= NUM_FRAMES - 2, (
        f'only {len(stamps)} of {NUM_FRAMES} frames came back: {stamps}\n'
        f'{node_process.stderr()}')
    for msg in received:
        assert stamp_key(msg) in expected, f'unexpected stamp {stamp_key(msg)}'
        assert msg.header.frame_id == FRAME_ID
        np.testing.assert_array_equal(hha_of(msg), expected[stamp_key(msg)])

    assert node_process.interrupt() == 0
    stderr = node_process.stderr()
    assert 'Traceback' not in stderr, stderr
    assert 'frame skipped' not in stderr, stderr


def test_cli_node_accepts_params_file(start_node, make_feeder):
    """The node starts with config/hha_node.yaml, serves a frame and stops cleanly."""
    if not PARAMS_FILE.is_file():
        pytest.skip(f'{PARAMS_FILE} does not exist')
    node_process = start_node(['-r', '__ns:=/xproc_params', '--params-file', str(PARAMS_FILE),
                               '-p', 'device:=cpu'])
    # Reliable publishers match whichever input reliability the file chooses.
    feeder = make_feeder('/xproc_params', reliability='reliable')

    wait_for_node(feeder, node_process)
    sample = sample_frame(0)
    msg = warm_up(feeder, sample, node_process)
    assert (msg.width, msg.height) == (sample.depth_mm.shape[1], sample.depth_mm.shape[0])
    assert msg.encoding == 'rgb8'

    assert node_process.interrupt() == 0
    stderr = node_process.stderr()
    assert 'Traceback' not in stderr, stderr
