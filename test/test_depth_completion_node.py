"""In-process tests of depth_completion_node over real rclpy topics (CPU, tiny weights)."""

import numpy as np
import pytest
from ros_harness import frame, image_message, info_message, make_node, SMALL
from sensor_msgs.msg import Image

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.depth_completion_node import DepthCompletionNode
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.hha import HhaStage

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]


def send(client, seconds, depth=None, rgb=None, index=0):
    """Publish a sample frame's depth, camera_info and (where taken) colour at ``seconds``."""
    sample = frame(index)
    client.publish('depth/image_raw',
                   image_message(sample.depth_mm if depth is None else depth, '16UC1', seconds))
    client.publish('depth/camera_info', info_message(sample.intrinsics, SMALL, seconds))
    if client.publishes('rgb/image_raw'):
        client.publish('rgb/image_raw',
                       image_message(sample.rgb if rgb is None else rgb, 'rgb8', seconds))


@pytest.fixture
def make_completion(context, make_client, tiny_completion_weights):
    """Return make(namespace, **parameters): a DepthCompletionNode and its matched client."""
    def make(namespace, **parameters):
        node = make_node(DepthCompletionNode, context, namespace,
                         weights=str(tiny_completion_weights), **parameters)
        outputs = ['depth/completed'] + (['hha/image'] if parameters.get('publish_hha') else [])
        client = make_client(namespace, [node], outputs=dict.fromkeys(outputs, Image))
        client.wait_matched()
        return client

    return make


def test_completed_depth_equals_the_stage_with_the_depth_header(make_completion,
                                                                tiny_completion_weights):
    """32FC1 metres, the depth's header, the stage's values; HHA of the completed depth."""
    client = make_completion('/completion_a', publish_hha=True)
    send(client, 12.5)
    client.wait_for('hha/image')
    msg = client.messages('depth/completed')[0]
    assert msg.encoding == '32FC1' and (msg.width, msg.height) == SMALL
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 500000000)
    assert msg.header.frame_id == 'camera_depth_optical_frame'
    sample = frame(0)
    expected = CompletionStage('model', weights=tiny_completion_weights, device='cpu')(
        sample.rgb, sample.depth_mm)
    completed = image_to_numpy(msg)
    np.testing.assert_allclose(completed, expected, rtol=1e-5)
    hha = image_to_numpy(client.messages('hha/image')[0])
    np.testing.assert_array_equal(hha, HhaStage('cpu')(completed, Intrinsics(*sample.intrinsics)))


def test_bad_colour_is_reported_and_the_next_frame_served(make_completion):
    """Colour of the wrong size: an error naming the colour topic, nothing published."""
    client = make_completion('/completion_b')
    logged = client.logged
    send(client, 1.0, rgb=np.zeros((10, 10, 3), np.uint8))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/completion_b/rgb/image_raw' in logged[0] and 'colour size 10x10' in logged[0]
    send(client, 2.0)
    client.wait_for('depth/completed')
    assert len(client.messages('depth/completed')) == 1


def test_empty_depth_skipped_and_ip_basic_needs_no_colour(make_completion):
    """IP-Basic needs no colour; an all-zero depth frame is skipped with an error."""
    client = make_completion('/completion_c', method='ip_basic')
    assert [s.topic_name for s in client.node.subscriptions] == [
        '/completion_c/depth/image_raw', '/completion_c/depth/camera_info']
    logged = client.logged
    send(client, 1.0, depth=np.zeros((SMALL[1], SMALL[0]), np.uint16))
    assert client.spin_until(lambda: logged)
    assert '/completion_c/depth/image_raw' in logged[0] and 'no valid pixel' in logged[0]
    send(client, 2.0)
    client.wait_for('depth/completed')
    assert np.all(image_to_numpy(client.messages('depth/completed')[0]) > 0)
