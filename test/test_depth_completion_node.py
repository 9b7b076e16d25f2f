"""In-process tests of depth_completion_node over real rclpy topics (CPU, tiny weights)."""

import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from test_hha_node import depth_message, frame, info_message, SMALL, stamp

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.ros.depth_completion_node import DepthCompletionNode
from rgbd_perception.ros.image_codec import image_to_numpy, numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.hha import HhaStage

pytestmark = [pytest.mark.ros, pytest.mark.timeout(90)]

WAIT_S = 20.0


class Client:
    """A DepthCompletionNode plus a client node that feeds it and collects its outputs."""

    def __init__(self, context, namespace, parameters):
        self.node = DepthCompletionNode(
            context=context, namespace=namespace,
            parameter_overrides=[Parameter('device', value='cpu')] + parameters)
        self.client = Node('completion_test_client', namespace=namespace, context=context)
        qos = qos_profile('best_effort', 5)
        self.publishers = {topic: self.client.create_publisher(msg_type, topic, qos)
                           for msg_type, topic in [(Image, 'depth/image_raw'),
                                                   (Image, 'rgb/image_raw'),
                                                   (CameraInfo, 'depth/camera_info')]}
        self.received = {'depth/completed': [], 'hha/image': []}
        self.subscriptions = [self.client.create_subscription(
            Image, topic, self.received[topic].append, qos) for topic in self.received]
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        assert self.spin_until(lambda: all(
            sub.get_publisher_count() > 0 for sub in self.node.subscriptions)
            and self.subscriptions[0].get_publisher_count() > 0), 'topics not matched'

    def spin_until(self, predicate, timeout=WAIT_S):
        """Spin both nodes until ``predicate()`` holds or ``timeout`` s passed; return it."""
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def send(self, seconds, depth=None, rgb=None, index=0):
        """Publish a sample frame's depth, colour and camera_info stamped at ``seconds``."""
        sample = frame(index)
        header = Header(stamp=stamp(seconds), frame_id='camera_depth_optical_frame')
        self.publishers['depth/image_raw'].publish(
            depth_message(sample.depth_mm if depth is None else depth, '16UC1', seconds))
        self.publishers['rgb/image_raw'].publish(
            numpy_to_image(sample.rgb if rgb is None else rgb, 'rgb8', header=header))
        self.publishers['depth/camera_info'].publish(
            info_message(sample.intrinsics, SMALL, seconds))

    def close(self):
        """Stop spinning and destroy both nodes."""
        self.executor.shutdown()
        self.client.destroy_node()
        self.node.destroy_node()


@pytest.fixture
def make_client(context, tiny_completion_weights):
    """Return a factory of Clients in fresh namespaces, closed after the test."""
    made = []

    def make(namespace, **parameters):
        values = {'weights': str(tiny_completion_weights), **parameters}
        made.append(Client(context, namespace,
                           [Parameter(k, value=v) for k, v in values.items()]))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_completed_depth_equals_the_stage_with_the_depth_header(make_client,
                                                                tiny_completion_weights):
    """32FC1 metres, the depth's header, the stage's values; HHA of the completed depth."""
    client = make_client('/completion_a', publish_hha=True)
    client.send(12.5)
    assert client.spin_until(lambda: client.received['hha/image']), 'nothing published'
    msg = client.received['depth/completed'][0]
    assert msg.encoding == '32FC1' and (msg.width, msg.height) == SMALL
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 500000000)
    assert msg.header.frame_id == 'camera_depth_optical_frame'
    sample = frame(0)
    expected = CompletionStage('model', weights=tiny_completion_weights, device='cpu')(
        sample.rgb, sample.depth_mm)
    completed = image_to_numpy(msg)
    np.testing.assert_allclose(completed, expected, rtol=1e-5)
    hha = image_to_numpy(client.received['hha/image'][0])
    np.testing.assert_array_equal(hha, HhaStage('cpu')(completed, Intrinsics(*sample.intrinsics)))


def test_bad_colour_is_reported_and_the_next_frame_served(make_client):
    """Colour of the wrong size: an error naming the colour topic, nothing published."""
    client = make_client('/completion_b')
    logged = []
    client.node.errors._log = logged.append
    client.send(1.0, rgb=np.zeros((10, 10, 3), np.uint8))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/completion_b/rgb/image_raw' in logged[0] and 'colour size 10x10' in logged[0]
    client.send(2.0)
    assert client.spin_until(lambda: client.received['depth/completed'])
    assert len(client.received['depth/completed']) == 1


def test_empty_depth_skipped_and_ip_basic_needs_no_colour(make_client):
    """IP-Basic needs no colour; an all-zero depth frame is skipped with an error."""
    client = make_client('/completion_c', method='ip_basic')
    assert [s.topic_name for s in client.node.subscriptions] == [
        '/completion_c/depth/image_raw', '/completion_c/depth/camera_info']
    logged = []
    client.node.errors._log = logged.append
    client.send(1.0, depth=np.zeros((SMALL[1], SMALL[0]), np.uint16))
    assert client.spin_until(lambda: logged)
    assert '/completion_c/depth/image_raw' in logged[0] and 'no valid pixel' in logged[0]
    client.send(2.0)
    assert client.spin_until(lambda: client.received['depth/completed'])
    assert np.all(image_to_numpy(client.received['depth/completed'][0]) > 0)
