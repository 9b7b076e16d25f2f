"""In-process tests of hha_node over real rclpy topics (isolated context, CPU device)."""

import array as pyarray
from functools import lru_cache
import itertools
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_perception.cli import main as cli_main
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import read_rgb, write_depth_png
from rgbd_perception.ros.hha_node import HhaNode
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.tools.sample_scene import sample_frame

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

FRAME_ID = 'camera_depth_optical_frame'
SMALL = (160, 120)
VGA = (640, 480)
#: How long a test waits to be sure that nothing is published.
QUIET_S = 1.0
#: How long a test waits for something that should happen.
WAIT_S = 20.0

_namespaces = itertools.count()


@lru_cache(maxsize=None)
def frame(index, size=SMALL):
    """Return a (cached, never modified) sample frame of the given (width, height)."""
    width, height = size
    return sample_frame(index, width=width, height=height)


@lru_cache(maxsize=None)
def stage(gravity=None):
    """Return a CPU HhaStage, the reference the node must reproduce bit for bit."""
    return HhaStage(device='cpu', gravity=gravity)


def stamp(seconds):
    """Return a builtin_interfaces/Time for float seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def depth_message(array, encoding, seconds, frame_id=FRAME_ID):
    """Encode a depth array as an Image stamped at ``seconds``."""
    header = Header(stamp=stamp(seconds), frame_id=frame_id)
    return numpy_to_image(array, encoding, header=header)


def info_message(intrinsics, size, seconds, frame_id=FRAME_ID):
    """Return a CameraInfo with K from (fx, fy, cx, cy) for an image of (width, height)."""
    fx, fy, cx, cy = intrinsics
    msg = CameraInfo()
    msg.header = Header(stamp=stamp(seconds), frame_id=frame_id)
    msg.width, msg.height = size
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def valid_pair(seconds, index=0, size=SMALL):
    """Return (depth 16UC1, camera_info) of a sample frame, both stamped at ``seconds``."""
    sample = frame(index, size)
    return (depth_message(sample.depth_mm, '16UC1', seconds),
            info_message(sample.intrinsics, size, seconds))


def raw_image(encoding, width, height, step, data, seconds):
    """Build an Image by hand (for messages numpy_to_image refuses to write)."""
    msg = Image()
    msg.header = Header(stamp=stamp(seconds), frame_id=FRAME_ID)
    msg.height, msg.width, msg.step = height, width, step
    msg.encoding = encoding
    msg.data = pyarray.array('B', data)
    return msg


def hha_of(msg):
    """Decode an rgb8 hha/image message to (H, W, 3) uint8."""
    assert msg.encoding == 'rgb8'
    assert msg.step == msg.width * 3
    return np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)


def seconds_of(msg):
    """Header stamp of a message as float seconds."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Harness:
    """An HhaNode plus a client node that feeds it frames and collects its HHA images."""

    def __init__(self, context, namespace, parameters=(), cli_args=None, depth_topic=None):
        overrides = [Parameter('device', value='cpu')] + list(parameters)
        self.node = HhaNode(context=context, namespace=namespace,
                            parameter_overrides=overrides, cli_args=cli_args)
        self.logged = []
        original_log = self.node.errors._log

        def log(message):
            self.logged.append(message)
            original_log(message)

        self.node.errors._log = log
        input_qos = qos_profile(self.node.params['input_reliability'],
                                self.node.params['qos_depth'])
        output_qos = qos_profile(self.node.params['output_reliability'],
                                 self.node.params['qos_depth'])
        self.client = Node('hha_test_client', namespace=namespace, context=context)
        self.depth_pub = self.client.create_publisher(
            Image, depth_topic or self.node.topic('depth'), input_qos)
        self.info_pub = self.client.create_publisher(CameraInfo, self.node.topic('intrinsics'),
                                                     input_qos)
        self.raw_pub = None
        if self.node.params['mask_from_raw_depth']:
            self.raw_pub = self.client.create_publisher(Image, self.node.topic('raw_depth'),
                                                        input_qos)
        self.received = []
        self.hha_sub = self.client.create_subscription(
            Image, self.node.publisher.topic_name, self.received.append, output_qos)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)

    def close(self):
        """Stop spinning and destroy both nodes."""
        self.executor.shutdown()
        self.client.destroy_node()
        self.node.destroy_node()

    def spin_until(self, predicate, timeout=WAIT_S):
        """Spin both nodes until ``predicate()`` is true or ``timeout`` s passed; return it."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return predicate()
            self.executor.spin_once(timeout_sec=min(0.05, remaining))
        return True

    def spin_for(self, seconds):
        """Spin both nodes for ``seconds``."""
        self.spin_until(lambda: False, seconds)

    def wait_matched(self):
        """Wait until every publisher and subscription of the test is matched both ways."""
        publishers = [self.depth_pub, self.info_pub, self.node.publisher]
        if self.raw_pub is not None:
            publishers.append(self.raw_pub)
        subscriptions = list(self.node.subscriptions) + [self.hha_sub]
        assert self.spin_until(
            lambda: all(p.get_subscription_count() > 0 for p in publishers)
            and all(s.get_publisher_count() > 0 for s in subscriptions)), 'topics not matched'

    def send(self, depth_msg, info_msg, raw_msg=None):
        """Publish one frame (depth, camera_info and optionally the raw depth)."""
        self.depth_pub.publish(depth_msg)
        self.info_pub.publish(info_msg)
        if raw_msg is not None:
            self.raw_pub.publish(raw_msg)

    def expect_published(self, count, timeout=WAIT_S):
        """Wait for ``count`` HHA images in all, return the last one."""
        assert self.spin_until(lambda: len(self.received) >= count, timeout), (
            f'expected {count} hha images, got {len(self.received)}; errors: {self.logged}')
        return self.received[-1]

    def expect_skipped(self, errors_before, count=1):
        """Wait for ``count`` more skipped frames and check that nothing was published."""
        published_before = len(self.received)
        assert self.spin_until(lambda: self.node.errors.total >= errors_before + count), (
            'the bad frame was not reported')
        self.spin_for(QUIET_S)
        assert len(self.received) == published_before, 'a bad frame was published'


@pytest.fixture
def make_harness(context):
    """Return a factory of Harness objects (in a fresh namespace) closed after the test."""
    made = []

    def make(parameters=(), namespace=None, **kwargs):
        harness = Harness(context, namespace or f'/hha_test_{next(_namespaces)}',
                          parameters, **kwargs)
        made.append(harness)
        harness.wait_matched()
        return harness

    yield make
    for harness in made:
        harness.close()


def test_valid_frame_matches_stage_and_cli(make_harness, tmp_path):
    """A VGA 16UC1 frame gives one rgb8 HHA image equal to HhaStage and to the CLI."""
    harness = make_harness()
    sample = frame(2, VGA)
    depth_msg, info_msg = valid_pair(1234.567890123, index=2, size=VGA)
    harness.send(depth_msg, info_msg)
    msg = harness.expect_published(1)
    harness.spin_for(QUIET_S)
    assert len(harness.received) == 1

    assert msg.encoding == 'rgb8'
    assert (msg.width, msg.height) == VGA
    assert msg.header.frame_id == FRAME_ID
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 567890123)
    expected = stage()(sample.depth_mm, Intrinsics(*sample.intrinsics), depth_scale=0.001)
    np.testing.assert_array_equal(hha_of(msg), expected)

    depth_path = tmp_path / 'depth.png'
    write_depth_png(depth_path, sample.depth_mm)
    out_dir = tmp_path / 'out'
    status = cli_main(['hha', '--depth', str(depth_path), '--out-dir', str(out_dir),
                       '--intrinsics', *map(str, sample.intrinsics), '--device', 'cpu'])
    assert status == 0
    np.testing.assert_array_equal(hha_of(msg), read_rgb(out_dir / 'depth.png'))
    assert harness.node.errors.total == 0


def test_float_metres_and_mono16_inputs(make_harness):
    """32FC1 metres and mono16 give the HHA of HhaStage on the same arrays (16UC1 alike)."""
    harness = make_harness()
    sample = frame(3)
    intrinsics = Intrinsics(*sample.intrinsics)
    metres = sample.depth_mm.astype(np.float32) / np.float32(1000.0)
    sent = [('16UC1', sample.depth_mm), ('32FC1', metres), ('mono16', sample.depth_mm)]
    for seconds, (encoding, depth) in enumerate(sent, start=1):
        harness.send(depth_message(depth, encoding, seconds),
                     info_message(sample.intrinsics, SMALL, seconds))
        msg = harness.expect_published(seconds)
        assert seconds_of(msg) == seconds
        np.testing.assert_array_equal(hha_of(msg), stage()(depth, intrinsics))

    from_mm, from_metres, from_mono16 = (hha_of(m) for m in harness.received)
    np.testing.assert_array_equal(from_mono16, from_mm)
    # float32 rounding of mm / 1000 may move a few pixels across a quantisation step.
    assert (from_metres != from_mm).any(axis=-1).mean() < 0.01


def _wrong_encoding(seconds):
    sample = frame(0)
    return (numpy_to_image(sample.rgb, 'rgb8', header=Header(stamp=stamp(seconds))),
            info_message(sample.intrinsics, SMALL, seconds))


def _unknown_encoding(seconds):
    width, height = SMALL
    data = np.full(height * width * 2, 128, dtype=np.uint8).tobytes()
    return (raw_image('yuv422', width, height, width * 2, data, seconds),
            info_message(frame(0).intrinsics, SMALL, seconds))


def _truncated(seconds):
    depth_msg, info_msg = valid_pair(seconds)
    depth_msg.data = depth_msg.data[:len(depth_msg.data) // 2]
    return depth_msg, info_msg


def _zero_size(seconds):
    width, _ = SMALL
    return (raw_image('16UC1', width, 0, width * 2, b'', seconds),
            info_message(frame(0).intrinsics, SMALL, seconds))


def _step_too_small(seconds):
    width, height = SMALL
    data = frame(0).depth_mm.tobytes()[:height * width]
    return (raw_image('16UC1', width, height, width, data, seconds),
            info_message(frame(0).intrinsics, SMALL, seconds))


def _float_depth(seconds, where, value):
    sample = frame(0)
    metres = sample.depth_clean_m.copy()
    metres[where] = value
    return (depth_message(metres, '32FC1', seconds),
            info_message(sample.intrinsics, SMALL, seconds))


def _all_nan(seconds):
    return _float_depth(seconds, np.s_[:, :], np.nan)


def _some_inf(seconds):
    return _float_depth(seconds, np.s_[10:20, 30:40], np.inf)


def _some_negative(seconds):
    return _float_depth(seconds, np.s_[5, :], -1.5)


def _all_zero(seconds):
    return (depth_message(np.zeros(SMALL[::-1], dtype=np.uint16), '16UC1', seconds),
            info_message(frame(0).intrinsics, SMALL, seconds))


def _k_zeros(seconds):
    depth_msg, info_msg = valid_pair(seconds)
    info_msg.k = [0.0] * 9
    return depth_msg, info_msg


def _info_size_differs(seconds):
    depth_msg, _ = valid_pair(seconds)
    return depth_msg, info_message(frame(0, (320, 240)).intrinsics, (320, 240), seconds)


BAD_INPUTS = [
    # (case, message builder, input named in the log, words of the problem)
    ('wrong_encoding', _wrong_encoding, 'depth', ["'rgb8'", 'expected encodings']),
    ('unknown_encoding', _unknown_encoding, 'depth', ["'yuv422'", 'unsupported encoding']),
    ('truncated_data', _truncated, 'depth', ['data length 19200', '38400']),
    ('zero_size', _zero_size, 'depth', ['zero size', 'height 0']),
    ('step_too_small', _step_too_small, 'depth', ['step 160 < width 160']),
    ('all_nan_32fc1', _all_nan, 'depth', ['no valid pixel']),
    ('inf_32fc1', _some_inf, 'depth', ['100 infinite values']),
    ('negative_32fc1', _some_negative, 'depth', ['160 negative values']),
    ('all_zero_16uc1', _all_zero, 'depth', ['no valid pixel']),
    ('camera_info_k_zeros', _k_zeros, 'intrinsics', ['fx=0.0', 'fy=0.0']),
    ('camera_info_other_size', _info_size_differs, 'intrinsics',
     ['camera_info size 320x240 != image size 160x120']),
]


@pytest.mark.parametrize('builder, topic_name, problem',
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_skipped_and_reported(make_harness, builder, topic_name, problem):
    """A bad frame is logged (topic + problem), not published; the next good frame is."""
    harness = make_harness()
    harness.send(*builder(1.0))
    harness.expect_skipped(errors_before=0)
    assert harness.node.errors.total == 1
    assert len(harness.logged) == 1
    message = harness.logged[0]
    assert f"'{harness.node.topic(topic_name)}'" in message
    for words in problem:
        assert words in message

    harness.send(*valid_pair(2.0))
    msg = harness.expect_published(1)
    assert seconds_of(msg) == 2.0
    sample = frame(0)
    np.testing.assert_array_equal(
        hha_of(msg), stage()(sample.depth_mm, Intrinsics(*sample.intrinsics)))
    assert harness.node.errors.total == 1


def test_out_of_order_stamp_is_skipped(make_harness):
    """A frame older than the last processed one is reported out of order, not published."""
    harness = make_harness()
    harness.send(*valid_pair(10.0))
    assert seconds_of(harness.expect_published(1)) == 10.0

    harness.send(*valid_pair(5.0, index=1))
    harness.expect_skipped(errors_before=0)
    harness.spin_until(lambda: harness.node.errors.total >= 2)
    assert harness.node.errors.total == 2  # the depth and its camera_info
    depth_reports = [m for m in harness.logged if f"'{harness.node.topic('depth')}'" in m]
    assert len(depth_reports) == 1
    assert len(harness.logged) == 2
    assert 'out-of-order stamp 5.000000000' in depth_reports[0]

    harness.send(*valid_pair(11.0, index=1))
    msg = harness.expect_published(2)
    assert seconds_of(msg) == 11.0
    sample = frame(1)
    np.testing.assert_array_equal(
        hha_of(msg), stage()(sample.depth_mm, Intrinsics(*sample.intrinsics)))


def test_partially_nan_float_depth_is_published(make_harness):
    """A 32FC1 frame with some NaN (missing) pixels is valid and gets published."""
    harness = make_harness()
    sample = frame(4)
    metres = sample.depth_clean_m.copy()
    metres[sample.depth_mm == 0] = np.nan
    assert 0 < np.isnan(metres).mean() < 0.5
    harness.send(depth_message(metres, '32FC1', 1.0),
                 info_message(sample.intrinsics, SMALL, 1.0))
    msg = harness.expect_published(1)
    np.testing.assert_array_equal(
        hha_of(msg), stage()(metres, Intrinsics(*sample.intrinsics)))
    assert harness.node.errors.total == 0


def test_repeated_errors_are_rate_limited(make_harness):
    """Five bad frames in quick succession are all counted but logged once."""
    harness = make_harness()
    for seconds in range(1, 6):
        harness.send(*_all_zero(float(seconds)))
    harness.expect_skipped(errors_before=0, count=5)
    assert harness.node.errors.total == 5
    assert len(harness.logged) == 1
    assert 'no valid pixel' in harness.logged[0]


def test_diagnostics_report_processed_and_dropped_frames(make_harness):
    """/diagnostics carries the node's frame counts and a positive median latency."""
    harness = make_harness([Parameter('diagnostics_period', value=0.2)])
    arrays = []
    harness.client.create_subscription(DiagnosticArray, '/diagnostics', arrays.append, 10)
    for seconds in (1.0, 2.0, 3.0):
        harness.send(*valid_pair(seconds, index=int(seconds)))
        harness.expect_published(int(seconds))
    harness.send(*_all_zero(4.0))
    harness.expect_skipped(errors_before=0)

    name = f'{harness.node.get_fully_qualified_name()}: hha'

    def values():
        for array in reversed(arrays):
            for status in array.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values}
        return None

    def complete():
        found = values()
        return found is not None and int(found['frames_dropped']) >= 1
    assert harness.spin_until(complete, 5.0), f'no diagnostics for {name!r}'
    found = values()
    assert int(found['frames_processed']) >= 3
    assert int(found['frames_dropped']) >= 1
    assert float(found['latency_median_ms']) > 0


def test_mask_from_raw_depth(make_harness):
    """With mask_from_raw_depth the raw depth's zeros define the mask of the normal fits."""
    harness = make_harness([Parameter('mask_from_raw_depth', value=True)])
    namespace = harness.node.get_namespace()
    assert harness.node.topic('raw_depth') == namespace + '/depth/raw/image_raw'
    sample = frame(5)
    clean = sample.depth_clean_m
    harness.send(depth_message(clean, '32FC1', 1.0),
                 info_message(sample.intrinsics, SMALL, 1.0))
    harness.spin_for(QUIET_S)
    assert harness.received == [], 'published without the raw depth'

    harness.raw_pub.publish(depth_message(sample.depth_mm, '16UC1', 1.0))
    msg = harness.expect_published(1)
    intrinsics = Intrinsics(*sample.intrinsics)
    expected = stage()(clean, intrinsics, raw_depth=sample.depth_mm)
    np.testing.assert_array_equal(hha_of(msg), expected)
    assert (expected != stage()(clean, intrinsics)).any(), 'the mask made no difference'


def test_bad_raw_depth_is_reported_on_its_own_topic(make_harness):
    """An all-zero raw depth is skipped with an error naming depth/raw/image_raw."""
    harness = make_harness([Parameter('mask_from_raw_depth', value=True)])
    sample = frame(5)
    zeros = np.zeros_like(sample.depth_mm)
    harness.send(depth_message(sample.depth_clean_m, '32FC1', 1.0),
                 info_message(sample.intrinsics, SMALL, 1.0),
                 depth_message(zeros, '16UC1', 1.0))
    harness.expect_skipped(0)
    assert len(harness.logged) == 1
    assert harness.node.topic('raw_depth') in harness.logged[0]
    assert 'raw depth' in harness.logged[0] and 'no valid pixel' in harness.logged[0]
    harness.send(depth_message(sample.depth_clean_m, '32FC1', 2.0),
                 info_message(sample.intrinsics, SMALL, 2.0),
                 depth_message(sample.depth_mm, '16UC1', 2.0))
    harness.expect_published(1)


def test_fixed_gravity_parameter(make_harness):
    """A fixed gravity parameter replaces the per-frame estimate."""
    harness = make_harness([Parameter('gravity', value=[0.0, 1.0, 0.0])])
    sample = frame(6)
    harness.send(*valid_pair(1.0, index=6))
    msg = harness.expect_published(1)
    intrinsics = Intrinsics(*sample.intrinsics)
    expected = stage((0.0, 1.0, 0.0))(sample.depth_mm, intrinsics)
    np.testing.assert_array_equal(hha_of(msg), expected)
    assert (expected != stage()(sample.depth_mm, intrinsics)).any()


def test_namespace_and_remapping(make_harness):
    """__ns and a topic remap from cli_args decide where the node listens and publishes."""
    remapped = '/cam/depth_registered/image_raw'
    harness = make_harness(
        namespace='/', depth_topic=remapped,
        cli_args=['--ros-args', '-r', '__ns:=/cam', '-r', f'depth/image_raw:={remapped}'])
    assert harness.node.get_namespace() == '/cam'
    assert harness.node.topic('depth') == remapped
    assert harness.node.topic('intrinsics') == '/cam/depth/camera_info'
    assert harness.node.publisher.topic_name == '/cam/hha/image'
    harness.send(*valid_pair(1.0))
    msg = harness.expect_published(1)
    assert seconds_of(msg) == 1.0
