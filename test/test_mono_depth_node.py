"""In-process tests of mono_depth_node over real rclpy topics (CPU, tiny untrained weights)."""

import numpy as np
import pytest
from ros_harness import frame, image_message, info_message, make_node, SMALL
from sensor_msgs.msg import Image

from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.mono_depth_node import MonoDepthNode
from rgbd_perception.stages.mono_depth import MonoDepthStage

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]


def send(client, seconds, info_size=SMALL, index=0, depth=None):
    """Publish a sample frame's colour, a camera_info of ``info_size`` (and depth) at seconds."""
    sample = frame(index)
    client.publish('rgb/image_raw', image_message(sample.rgb, 'rgb8', seconds))
    client.publish('rgb/camera_info', info_message(sample.intrinsics, info_size, seconds))
    if client.publishes('depth/image_raw'):
        client.publish('depth/image_raw', image_message(
            sample.depth_mm if depth is None else depth, '16UC1', seconds))


@pytest.fixture
def make_mono(context, make_client, tiny_mono_depth_weights):
    """Return make(namespace, **parameters): a MonoDepthNode and its matched client."""
    def make(namespace, **parameters):
        node = make_node(MonoDepthNode, context, namespace,
                         weights=str(tiny_mono_depth_weights), **parameters)
        client = make_client(namespace, [node], outputs={'depth/mono': Image})
        client.wait_matched()
        return client

    return make


def test_mono_depth_equals_the_stage_with_the_colour_header(make_mono, tiny_mono_depth_weights):
    """32FC1 metres at the colour size, the colour's header, the stage's values."""
    client = make_mono('/mono_a')
    assert sorted(s.topic_name for s in client.node.subscriptions) == [
        '/mono_a/rgb/camera_info', '/mono_a/rgb/image_raw']
    send(client, 7.25)
    client.wait_for('depth/mono')
    msg = client.messages('depth/mono')[0]
    assert msg.encoding == '32FC1' and (msg.width, msg.height) == SMALL
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 250000000)
    sample = frame(0)
    expected = MonoDepthStage(tiny_mono_depth_weights, device='cpu')(sample.rgb,
                                                                     sample.intrinsics)
    np.testing.assert_allclose(image_to_numpy(msg), expected, rtol=1e-5)


def test_bad_camera_info_is_reported_and_the_next_frame_served(make_mono):
    """camera_info of another size: an error naming its topic; the next frame is served."""
    client = make_mono('/mono_b')
    logged = client.logged
    send(client, 1.0, info_size=(10, 10))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/mono_b/rgb/camera_info' in logged[0]
    send(client, 2.0)
    client.wait_for('depth/mono')
    assert len(client.messages('depth/mono')) == 1


def test_scale_from_depth_matches_the_measured_median_and_reports_bad_depth(make_mono):
    """With scale_from_depth the median over measured pixels is the sensor's; bad depth skips."""
    client = make_mono('/mono_c', scale_from_depth=True)
    assert '/mono_c/depth/image_raw' in [s.topic_name for s in client.node.subscriptions]
    logged = client.logged
    send(client, 1.0, depth=np.zeros((10, 10), np.uint16))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/mono_c/depth/image_raw' in logged[0]
    send(client, 2.0)
    client.wait_for('depth/mono')
    mono = image_to_numpy(client.messages('depth/mono')[0])
    measured = frame(0).depth_mm / 1000.0
    valid = measured > 0
    assert np.median(mono[valid]) == pytest.approx(np.median(measured[valid]), rel=1e-3)
