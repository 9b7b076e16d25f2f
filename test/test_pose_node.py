"""In-process tests of pose_node over real rclpy topics (CPU, untrained weights)."""

from geometry_msgs.msg import PoseArray
import numpy as np
import pytest
from ros_harness import image_message, info_message, make_node
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.pose_node import PoseNode

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

FRAME_ID = 'camera_color_optical_frame'
OUTPUTS = {'objects/poses': PoseArray, 'objects/markers': MarkerArray, 'objects/overlay': Image}


def send(client, seconds, rgb, depth_mm, intrinsics, labels=None):
    """Publish colour, camera_info, depth (and labels) stamped at ``seconds``."""
    height, width = depth_mm.shape
    client.publish('rgb/image_raw', image_message(rgb, 'rgb8', seconds, FRAME_ID))
    client.publish('rgb/camera_info', info_message(intrinsics, (width, height), seconds, FRAME_ID))
    client.publish('depth/image_raw', image_message(depth_mm, '16UC1', seconds, FRAME_ID))
    if labels is not None:
        client.publish('objects/labels', image_message(labels, 'mono16', seconds, FRAME_ID))


@pytest.fixture
def make_pose(context, make_client, untrained_pose_weights):
    """Return make(namespace, **parameters): a PoseNode and its matched client."""
    def make(namespace, **parameters):
        node = make_node(PoseNode, context, namespace,
                         weights=str(untrained_pose_weights['rgbd']), **parameters)
        client = make_client(namespace, [node], outputs=OUTPUTS)
        client.wait_matched()
        return client

    return make


def test_label_detections_give_poses_markers_and_overlay(make_pose, ball_frame):
    """The ball's label region: its pose within 5 mm, a mesh marker, an overlay image."""
    rgb, depth, k, _, t, _, mask = ball_frame
    client = make_pose('/pose_a', use_label_image=True)
    labels = np.where(mask, 1104, 0).astype(np.uint16)
    send(client, 3.25, rgb, np.round(depth * 1000).astype(np.uint16), k, labels)
    assert client.spin_until(lambda: all(client.messages(topic) for topic in OUTPUTS)), \
        'nothing published'
    poses = client.messages('objects/poses')[0]
    assert poses.header.frame_id == 'camera_color_optical_frame'
    assert (poses.header.stamp.sec, poses.header.stamp.nanosec) == (3, 250000000)
    (pose,) = poses.poses
    position = np.array([pose.position.x, pose.position.y, pose.position.z])
    assert np.linalg.norm(position - t) < 0.005
    markers = client.messages('objects/markers')[0].markers
    assert markers[0].action == Marker.DELETEALL
    mesh = next(m for m in markers if m.ns == 'objects')
    assert mesh.type == Marker.MESH_RESOURCE and mesh.mesh_resource.endswith('obj_001104.ply')
    overlay = image_to_numpy(client.messages('objects/overlay')[0])
    assert overlay.shape == rgb.shape and (overlay != rgb).any()


def test_bad_labels_are_reported_and_the_next_frame_served(make_pose, ball_frame):
    """A label of no catalogue object: one error naming the label topic; the next frame works."""
    rgb, depth, k, _, _, _, mask = ball_frame
    client = make_pose('/pose_b', use_label_image=True)
    logged = client.logged
    depth_mm = np.round(depth * 1000).astype(np.uint16)
    send(client, 1.0, rgb, depth_mm, k, np.where(mask, 77, 0).astype(np.uint16))
    assert client.spin_until(lambda: logged), 'the bad frame was not reported'
    assert '/pose_b/objects/labels' in logged[0] and 'label 77' in logged[0]
    send(client, 2.0, rgb, depth_mm, k, np.where(mask, 1104, 0).astype(np.uint16))
    client.wait_for('objects/poses')
    assert len(client.messages('objects/poses')) == 1


def test_built_in_detector_runs_without_labels(make_pose, ball_frame):
    """Without a label topic the node subscribes colour, camera_info, depth and publishes."""
    rgb, depth, k, _, _, _, _ = ball_frame
    client = make_pose('/pose_c', min_score=0.0)
    assert [s.topic_name for s in client.node.subscriptions] == [
        '/pose_c/rgb/image_raw', '/pose_c/rgb/camera_info', '/pose_c/depth/image_raw']
    send(client, 1.0, rgb, np.round(depth * 1000).astype(np.uint16), k)
    client.wait_for('objects/poses')
    assert len(client.messages('objects/poses')[0].poses) >= 1
