"""In-process tests of hha_node over real rclpy topics (isolated context, CPU device)."""

import array as pyarray
from functools import lru_cache
import itertools

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_harness import (frame, FRAME_ID, image_message, info_message, make_node, QUIET_S,
                         seconds_of, SMALL, stamp, VGA)
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from rgbd_perception.cli import main as cli_main
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import read_rgb, write_depth_png
from rgbd_perception.ros.hha_node import HhaNode
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.stages.hha import HhaStage

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

#: The node's output, relative to its namespace.
HHA = 'hha/image'

_namespaces = itertools.count()


@lru_cache(maxsize=None)
def stage(gravity=None):
    """Return a CPU HhaStage, the reference the node must reproduce bit for bit."""
    return HhaStage(device='cpu', gravity=gravity)


def valid_pair(seconds, index=0, size=SMALL):
    """Return (depth 16UC1, camera_info) of a sample frame, both stamped at ``seconds``."""
    sample = frame(index, size)
    return (image_message(sample.depth_mm, '16UC1', seconds),
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


def send(client, depth_msg, info_msg, raw_msg=None):
    """Publish one frame to the client's hha_node (depth, camera_info, optionally raw depth)."""
    client.publish(client.node.topic('depth'), depth_msg)
    client.publish(client.node.topic('intrinsics'), info_msg)
    if raw_msg is not None:
        client.publish(client.node.topic('raw_depth'), raw_msg)


@pytest.fixture
def make_harness(context, make_client):
    """Return make(parameters, namespace, cli_args): an HhaNode and its matched test client."""
    def make(parameters=(), namespace=None, cli_args=None):
        namespace = namespace or f'/hha_test_{next(_namespaces)}'
        node = make_node(HhaNode, context, namespace, cli_args,
                         **{p.name: p.value for p in parameters})
        client = make_client(namespace, [node], outputs={node.publisher.topic_name: Image})
        client.wait_matched()
        return client

    return make


def test_valid_frame_matches_stage_and_cli(make_harness, tmp_path):
    """A VGA 16UC1 frame gives one rgb8 HHA image equal to HhaStage and to the CLI."""
    harness = make_harness()
    sample = frame(2, VGA)
    depth_msg, info_msg = valid_pair(1234.567890123, index=2, size=VGA)
    send(harness, depth_msg, info_msg)
    msg = harness.wait_for(HHA, 1)
    harness.spin_for(QUIET_S)
    assert len(harness.messages(HHA)) == 1

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
        send(harness, image_message(depth, encoding, seconds),
             info_message(sample.intrinsics, SMALL, seconds))
        msg = harness.wait_for(HHA, seconds)
        assert seconds_of(msg) == seconds
        np.testing.assert_array_equal(hha_of(msg), stage()(depth, intrinsics))

    from_mm, from_metres, from_mono16 = (hha_of(m) for m in harness.messages(HHA))
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
    return (image_message(metres, '32FC1', seconds),
            info_message(sample.intrinsics, SMALL, seconds))


def _all_nan(seconds):
    return _float_depth(seconds, np.s_[:, :], np.nan)


def _some_inf(seconds):
    return _float_depth(seconds, np.s_[10:20, 30:40], np.inf)


def _some_negative(seconds):
    return _float_depth(seconds, np.s_[5, :], -1.5)


def _all_zero(seconds):
    return (image_message(np.zeros(SMALL[::-1], dtype=np.uint16), '16UC1', seconds),
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
    send(harness, *builder(1.0))
    harness.expect_skipped()
    assert harness.node.errors.total == 1
    assert len(harness.logged) == 1
    message = harness.logged[0]
    assert f"'{harness.node.topic(topic_name)}'" in message
    for words in problem:
        assert words in message

    send(harness, *valid_pair(2.0))
    msg = harness.wait_for(HHA, 1)
    assert seconds_of(msg) == 2.0
    sample = frame(0)
    np.testing.assert_array_equal(
        hha_of(msg), stage()(sample.depth_mm, Intrinsics(*sample.intrinsics)))
    assert harness.node.errors.total == 1


def test_out_of_order_stamp_is_skipped(make_harness):
    """A frame older than the last processed one is reported out of order, not published."""
    harness = make_harness()
    send(harness, *valid_pair(10.0))
    assert seconds_of(harness.wait_for(HHA, 1)) == 10.0

    send(harness, *valid_pair(5.0, index=1))
    harness.expect_skipped()
    harness.spin_until(lambda: harness.node.errors.total >= 2)
    assert harness.node.errors.total == 2  # the depth and its camera_info
    depth_reports = [m for m in harness.logged if f"'{harness.node.topic('depth')}'" in m]
    assert len(depth_reports) == 1
    assert len(harness.logged) == 2
    assert 'out-of-order stamp 5.000000000' in depth_reports[0]

    send(harness, *valid_pair(11.0, index=1))
    msg = harness.wait_for(HHA, 2)
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
    send(harness, image_message(metres, '32FC1', 1.0),
         info_message(sample.intrinsics, SMALL, 1.0))
    msg = harness.wait_for(HHA, 1)
    np.testing.assert_array_equal(
        hha_of(msg), stage()(metres, Intrinsics(*sample.intrinsics)))
    assert harness.node.errors.total == 0


def test_repeated_errors_are_rate_limited(make_harness):
    """Five bad frames in quick succession are all counted but logged once."""
    harness = make_harness()
    for seconds in range(1, 6):
        send(harness, *_all_zero(float(seconds)))
    harness.expect_skipped(count=5)
    assert harness.node.errors.total == 5
    assert len(harness.logged) == 1
    assert 'no valid pixel' in harness.logged[0]


def test_diagnostics_report_processed_and_dropped_frames(make_harness):
    """/diagnostics carries the node's frame counts and a positive median latency."""
    harness = make_harness([Parameter('diagnostics_period', value=0.2)])
    arrays = []
    harness.client_node.create_subscription(DiagnosticArray, '/diagnostics', arrays.append, 10)
    for seconds in (1.0, 2.0, 3.0):
        send(harness, *valid_pair(seconds, index=int(seconds)))
        harness.wait_for(HHA, int(seconds))
    send(harness, *_all_zero(4.0))
    harness.expect_skipped()

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
    assert harness.spin_until(complete), f'no diagnostics for {name!r}'
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
    send(harness, image_message(clean, '32FC1', 1.0),
         info_message(sample.intrinsics, SMALL, 1.0))
    harness.spin_for(QUIET_S)
    assert harness.messages(HHA) == [], 'published without the raw depth'

    harness.publish(harness.node.topic('raw_depth'),
                    image_message(sample.depth_mm, '16UC1', 1.0))
    msg = harness.wait_for(HHA, 1)
    intrinsics = Intrinsics(*sample.intrinsics)
    expected = stage()(clean, intrinsics, raw_depth=sample.depth_mm)
    np.testing.assert_array_equal(hha_of(msg), expected)
    assert (expected != stage()(clean, intrinsics)).any(), 'the mask made no difference'


def test_bad_raw_depth_is_reported_on_its_own_topic(make_harness):
    """An all-zero raw depth is skipped with an error naming depth/raw/image_raw."""
    harness = make_harness([Parameter('mask_from_raw_depth', value=True)])
    sample = frame(5)
    zeros = np.zeros_like(sample.depth_mm)
    send(harness, image_message(sample.depth_clean_m, '32FC1', 1.0),
         info_message(sample.intrinsics, SMALL, 1.0),
         image_message(zeros, '16UC1', 1.0))
    harness.expect_skipped()
    assert len(harness.logged) == 1
    assert harness.node.topic('raw_depth') in harness.logged[0]
    assert 'raw depth' in harness.logged[0] and 'no valid pixel' in harness.logged[0]
    send(harness, image_message(sample.depth_clean_m, '32FC1', 2.0),
         info_message(sample.intrinsics, SMALL, 2.0),
         image_message(sample.depth_mm, '16UC1', 2.0))
    harness.wait_for(HHA, 1)


def test_fixed_gravity_parameter(make_harness):
    """A fixed gravity parameter replaces the per-frame estimate."""
    harness = make_harness([Parameter('gravity', value=[0.0, 1.0, 0.0])])
    sample = frame(6)
    send(harness, *valid_pair(1.0, index=6))
    msg = harness.wait_for(HHA, 1)
    intrinsics = Intrinsics(*sample.intrinsics)
    expected = stage((0.0, 1.0, 0.0))(sample.depth_mm, intrinsics)
    np.testing.assert_array_equal(hha_of(msg), expected)
    assert (expected != stage()(sample.depth_mm, intrinsics)).any()


def test_namespace_and_remapping(make_harness):
    """__ns and a topic remap from cli_args decide where the node listens and publishes."""
    remapped = '/cam/depth_registered/image_raw'
    harness = make_harness(
        namespace='/',
        cli_args=['--ros-args', '-r', '__ns:=/cam', '-r', f'depth/image_raw:={remapped}'])
    assert harness.node.get_namespace() == '/cam'
    assert harness.node.topic('depth') == remapped
    assert harness.node.topic('intrinsics') == '/cam/depth/camera_info'
    assert harness.node.publisher.topic_name == '/cam/hha/image'
    send(harness, *valid_pair(1.0))
    msg = harness.wait_for(harness.node.publisher.topic_name)
    assert seconds_of(msg) == 1.0
