"""In-process tests of pose_node over real rclpy topics (CPU, untrained weights)."""

import time

from geometry_msgs.msg import PoseArray
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from test_hha_node import info_message, stamp
from visualization_msgs.msg import Marker, MarkerArray

from rgbd_perception.ros.image_codec import image_to_numpy, numpy_to_image
from rgbd_perception.ros.pose_node import PoseNode
from rgbd_perception.ros.qos import qos_profile

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

WAIT_S = 30.0
OUTPUTS = {'objects/poses': PoseArray, 'objects/markers': MarkerArray, 'objects/overlay': Image}


class Client:
    """A PoseNode plus a client node that feeds it frames and collects its outputs."""

    def __init__(self, context, namespace, parameters):
        self.node = PoseNode(context=context, namespace=namespace,
                             parameter_overrides=[Parameter('device', value='cpu')] + parameters)
        self.client = Node('pose_test_client', namespace=namespace, context=context)
        qos = qos_profile('best_effort', 5)
        self.publishers = {topic: self.client.create_publisher(kind, topic, qos) for kind, topic
                           in [(Image, 'rgb/image_raw'), (CameraInfo, 'rgb/camera_info'),
                               (Image, 'depth/image_raw'), (Image, 'objects/labels')]}
        self.received = {topic: [] for topic in OUTPUTS}
        self.subscriptions = [self.client.create_subscription(
            kind, topic, self.received[topic].append, qos) for topic, kind in OUTPUTS.items()]
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        assert self.spin_until(lambda: all(
            sub.get_publisher_count() > 0 for sub in self.node.subscriptions)), 'not matched'

    def spin_until(self, predicate, timeout=WAIT_S):
        """Spin both nodes until ``predicate()`` holds or ``timeout`` s passed; return it."""
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def send(self, seconds, rgb, depth_mm, intrinsics, labels=None):
        """Publish colour, camera_info, depth (and labels) stamped at ``seconds``."""
        header = Header(stamp=stamp(seconds), frame_id='camera_color_optical_frame')
        height, width = depth_mm.shape
        self.publishers['rgb/image_raw'].publish(numpy_to_image(rgb, 'rgb8', header=header))
        info = info_message(intrinsics, (width, height), seconds)
        info.header.frame_id = header.frame_id
        self.publishers['rgb/camera_info'].publish(info)
        self.publishers['depth/image_raw'].publish(numpy_to_image(depth_mm, '16UC1',
                                                                  header=header))
        if labels is not None:
            self.publishers['objects/labels'].publish(numpy_to_image(labels, 'mono16',
                                                                     header=header))

    def close(self):
        """Stop spinning and destroy both nodes."""
        self.executor.shutdown()
        self.client.destroy_node()
        self.node.destroy_node()


@pytest.fixture
def make_client(context, untrained_pose_weights):
    """Return a factory of Clients in fresh namespaces, closed after the test."""
    made = []

    def make(namespace, **parameters):
        values = {'weights': str(untrained_pose_weights['rgbd']), **parameters}
        made.append(Client(context, namespace,
                           [Parameter(k, value=v) for k, v in values.items()]))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_label_detections_give_poses_markers_and_overlay(make_client, ball_frame):
    """The ball's label region: its pose within 5 mm, a mesh marker, an overlay image."""
    rgb, depth, k, _, t, _, mask = ball_frame
    client = make_client('/pose_a', use_label_image=True)
    labels = np.where(mask, 1104, 0).astype(np.uint16)
    client.send(3.25, rgb, np.round(depth * 1000).astype(np.uint16), k, labels)
    assert client.spin_until(lambda: all(client.received.values())), 'nothing published'
    poses = client.received['objects/poses'][0]
    assert poses.header.frame_id == 'camera_color_optical_frame'
    assert (poses.header.stamp.sec, poses.header.stamp.nanosec) == (3, 250000000)
    (pose,) = poses.poses
    position = np.array([pose.position.x, pose.position.y, pose.position.z])
    assert np.linalg.norm(position - t) < 0.005
    markers = client.received['objects/markers'][0].markers
    assert markers[0].action == Marker.DELETEALL
    mesh = next(m for m in markers if m.ns == 'objects')
    assert mesh.type == Marker.MESH_RESOURCE and mesh.mesh_resource.endswith('obj_001104.ply')
    overlay = image_to_numpy(client.received['objects/overlay'][0])
    assert overlay.shape == rgb.shape and (overlay != rgb).any()


def test_bad_labels_are_reported_and_the_next_frame_served(make_client, ball_frame):
    """A label of no catalogue object: one error naming the label topic; the next frame works."""
    rgb, depth, k, _, _, _, mask = ball_frame
    client = make_client('/pose_b', use_label_image=True)
    logged = []
    client.node.errors._log = logged.append
    depth_mm = np.round(depth * 1000).astype(np.uint16)
    client.send(1.0, rgb, depth_mm, k, np.where(mask, 77, 0).astype(np.uint16))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/pose_b/objects/labels' in logged[0] and 'label 77' in logged[0]
    client.send(2.0, rgb, depth_mm, k, np.where(mask, 1104, 0).astype(np.uint16))
    assert client.spin_until(lambda: client.received['objects/poses'])
    assert len(client.received['objects/poses']) == 1


def test_built_in_detector_runs_without_labels(make_client, ball_frame):
    """Without a label topic the node subscribes colour, camera_info, depth and publishes."""
    rgb, depth, k, _, _, _, _ = ball_frame
    client = make_client('/pose_c', min_score=0.0)
    assert [s.topic_name for s in client.node.subscriptions] == [
        '/pose_c/rgb/image_raw', '/pose_c/rgb/camera_info', '/pose_c/depth/image_raw']
    client.send(1.0, rgb, np.round(depth * 1000).astype(np.uint16), k)
    assert client.spin_until(lambda: client.received['objects/poses'])
    assert len(client.received['objects/poses'][0].poses) >= 1
