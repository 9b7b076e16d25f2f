"""The nodes are managed (lifecycle) nodes: configure, activate, deactivate, cleanup."""

import itertools

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from ros_harness import frame, image_message, info_message, make_node, QUIET_S, SMALL
from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.ros.hha_node import HhaNode
from rgbd_perception.ros.pose_node import PoseNode

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

_namespaces = itertools.count()


def send(client, seconds):
    """Publish one sample frame's depth and camera_info to an hha_node."""
    sample = frame(0)
    client.publish('depth/image_raw', image_message(sample.depth_mm, '16UC1', seconds))
    client.publish('depth/camera_info', info_message(sample.intrinsics, SMALL, seconds))


def input_subscriptions(node):
    """Return the topics the node subscribes to (its inputs)."""
    return [s.topic_name for s in node.subscriptions if 'image' in s.topic_name
            or 'camera_info' in s.topic_name]


@pytest.fixture
def managed_hha(context, make_client):
    """Return (node, client) of an hha_node built with autostart false."""
    namespace = f'/lifecycle_{next(_namespaces)}'
    node = make_node(HhaNode, context, namespace, autostart=False)
    client = make_client(namespace, [node], outputs={'hha/image': Image},
                         inputs={'depth/image_raw': Image, 'depth/camera_info': CameraInfo})
    return node, client


def test_transitions_build_subscribe_release(managed_hha):
    """Nothing before configure; subscribed only while active; cleanup drops the stage."""
    node, client = managed_hha
    assert input_subscriptions(node) == [] and not hasattr(node, 'stage')
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert hasattr(node, 'stage') and input_subscriptions(node) == []
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert len(input_subscriptions(node)) == 2
    client.wait_matched(['depth/image_raw', 'depth/camera_info'])
    send(client, 1.0)
    client.wait_for('hha/image')
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert input_subscriptions(node) == []
    send(client, 2.0)
    client.spin_for(QUIET_S)
    assert len(client.messages('hha/image')) == 1
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    client.wait_matched(['depth/image_raw', 'depth/camera_info'])
    send(client, 3.0)
    assert client.wait_for('hha/image', 2).header.stamp.sec == 3
    node.trigger_deactivate()
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert not hasattr(node, 'stage')
    assert not any(p.topic_name.endswith('hha/image') for p in node.publishers)


def test_lifecycle_services_drive_the_node(managed_hha):
    """ros2 lifecycle's services: change_state configure + activate, get_state says active."""
    node, client = managed_hha
    name = node.get_fully_qualified_name()
    change = client.client_node.create_client(ChangeState, f'{name}/change_state')
    get = client.client_node.create_client(GetState, f'{name}/get_state')

    def call(service, request):
        assert client.spin_until(service.service_is_ready), f'{service.srv_name} not ready'
        future = service.call_async(request)
        assert client.spin_until(future.done)
        return future.result()
    for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert call(change, ChangeState.Request(transition=Transition(id=transition))).success
    assert call(get, GetState.Request()).current_state.label == 'active'
    client.wait_matched(['depth/image_raw', 'depth/camera_info'])
    send(client, 1.0)
    client.wait_for('hha/image')


def test_failed_configure_is_named(context, untrained_pose_weights):
    """A configure that cannot build its stage fails the transition; autostart raises it."""
    parameters = {'weights': str(untrained_pose_weights['rgbd']), 'use_depth': False}
    with pytest.raises(ValueError, match='use_depth is false'):
        make_node(PoseNode, context, '/lifecycle_fail_a', **parameters)
    node = make_node(PoseNode, context, '/lifecycle_fail_b', autostart=False, **parameters)
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert 'use_depth is false' in str(node.configure_error)
    node.destroy_node()
