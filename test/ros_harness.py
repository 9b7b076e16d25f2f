"""
The ROS test harness: a client node beside the nodes under test, and what tests send them.

The client publishes the nodes' inputs, collects their outputs and spins until a condition
holds; the builders make stamped images, camera_infos and cached sample frames.

Time limits are generous: a test waits up to WAIT_S for what should happen, so a loaded
2-core machine never fails a test for being slow; no test asserts on wall-clock speed.
"""

from functools import lru_cache

from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from rgbd_perception.ros.camera_info import camera_info_message
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.ros.spin import spin_until
from rgbd_perception.tools.sample_scene import sample_frame

#: How long a test waits for something that should happen (only a failing test waits it out).
WAIT_S = 60.0
#: How long a test waits to be sure that nothing (more) is published.
QUIET_S = 1.0
FRAME_ID = 'camera_depth_optical_frame'
SMALL = (160, 120)
VGA = (640, 480)


def stamp(seconds):
    """Return a builtin_interfaces/Time for float seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def seconds_of(msg):
    """Header stamp of a message as float seconds."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def stamp_key(msg):
    """Header stamp of a message as an exact (sec, nanosec) pair."""
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def image_message(array, encoding, seconds, frame_id=FRAME_ID):
    """Encode an array as an Image stamped at ``seconds``."""
    return numpy_to_image(array, encoding, header=Header(stamp=stamp(seconds), frame_id=frame_id))


def info_message(intrinsics, size, seconds, frame_id=FRAME_ID):
    """Return the CameraInfo of (fx, fy, cx, cy) for an image of (width, height)."""
    return camera_info_message(intrinsics, *size, Header(stamp=stamp(seconds), frame_id=frame_id))


@lru_cache(maxsize=None)
def frame(index, size=SMALL):
    """Return a (cached, never modified) ray-cast sample frame of the given (width, height)."""
    width, height = size
    return sample_frame(index, width=width, height=height)


def make_node(node_class, context, namespace, cli_args=None, **parameters):
    """Return ``node_class`` built on the CPU with the given parameter values."""
    values = {'device': 'cpu', **parameters}
    return node_class(context=context, namespace=namespace, cli_args=cli_args,
                      parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


class Client:
    """
    A client node beside the nodes under test: it publishes their inputs, collects outputs.

    nodes: the nodes spun (and destroyed) with the client; ``node`` is the first.  inputs:
    {topic: message type} it publishes, by default every subscription of ``nodes``; outputs:
    {topic: message type} it collects (``messages(topic)``).  Topics are resolved in
    ``namespace``, where ``client_node`` lives.  The QoS defaults to the first node's input /
    output QoS, else best effort with a history of 10.  What the nodes' error reporters log
    is copied to ``logged``.
    """

    def __init__(self, context, namespace, nodes=(), inputs=None, outputs=None,
                 input_qos=None, output_qos=None):
        self.nodes = list(nodes)
        self.client_node = Node('test_client', namespace=namespace, context=context)
        default = qos_profile('best_effort', 10)
        first = self.nodes[0] if self.nodes else None
        input_qos = input_qos or getattr(first, 'input_qos', default)
        output_qos = output_qos or getattr(first, 'output_qos', default)
        if inputs is None:
            inputs = {sub.topic_name: sub.msg_type for node in self.nodes
                      for sub in node.subscriptions}
        create = self.client_node.create_publisher
        self.publishers = {self._resolve(topic): create(kind, topic, input_qos)
                           for topic, kind in inputs.items()}
        outputs = outputs or {}
        self._received = {self._resolve(topic): [] for topic in outputs}
        self.subscriptions = [self.client_node.create_subscription(
            kind, topic, self.messages(topic).append, output_qos)
            for topic, kind in outputs.items()]
        self.logged = []
        for node in self.nodes:
            self._copy_errors(node)
        self.executor = SingleThreadedExecutor(context=context)
        for node in [self.client_node] + self.nodes:
            self.executor.add_node(node)

    @property
    def node(self):
        """Return the (first) node under test."""
        return self.nodes[0]

    def _resolve(self, topic):
        return self.client_node.resolve_topic_name(topic)

    def _copy_errors(self, node):
        log = node.errors._log

        def copy(message):
            self.logged.append(message)
            log(message)
        node.errors._log = copy

    def publish(self, topic, msg):
        """Publish ``msg`` on input ``topic``."""
        self.publishers[self._resolve(topic)].publish(msg)

    def publishes(self, topic):
        """Return whether the client publishes input ``topic`` (whether a node takes it)."""
        return self._resolve(topic) in self.publishers

    def messages(self, topic):
        """Return the list of messages collected on output ``topic`` so far."""
        return self._received[self._resolve(topic)]

    def errors_total(self):
        """Return how many errors the nodes reported (logged or rate-limited)."""
        return sum(node.errors.total for node in self.nodes)

    def spin_until(self, predicate, timeout=WAIT_S, check=None):
        """Spin the client and the nodes until ``predicate()`` or ``timeout`` s; return it."""
        return spin_until(self.executor, predicate, timeout, check)

    def spin_for(self, seconds):
        """Spin the client and the nodes for ``seconds``."""
        self.spin_until(lambda: False, seconds)

    def matched(self, inputs=None):
        """
        Return whether the topics between the client and the nodes are matched both ways.

        inputs: the input topics that must have a subscriber (default: all the client's).
        """
        publishers = self.publishers.values() if inputs is None else [
            self.publishers[self._resolve(topic)] for topic in inputs]
        collected = {sub.topic_name for sub in self.subscriptions}
        counts = [pub.get_subscription_count() for pub in publishers]
        counts += [sub.get_publisher_count() for sub in self.subscriptions]
        for node in self.nodes:
            counts += [sub.get_publisher_count() for sub in node.subscriptions]
            counts += [pub.get_subscription_count() for pub in node.publishers
                       if pub.topic_name in collected]
        return all(count > 0 for count in counts)

    def wait_matched(self, inputs=None, timeout=WAIT_S):
        """Wait until ``matched(inputs)``; fail when it takes longer than ``timeout`` s."""
        assert self.spin_until(lambda: self.matched(inputs), timeout), 'topics not matched'

    def wait_for(self, topic, count=1, timeout=WAIT_S, check=None):
        """Wait until ``count`` messages in all arrived on output ``topic``; return the last."""
        received = self.messages(topic)
        assert self.spin_until(lambda: len(received) >= count, timeout, check), (
            f'expected {count} messages on {topic}, got {len(received)}; errors: {self.logged}')
        return received[-1]

    def expect_skipped(self, count=1):
        """Wait for ``count`` more errors of the nodes and check that nothing was published."""
        errors_before = self.errors_total()
        published_before = sum(len(received) for received in self._received.values())
        assert self.spin_until(lambda: self.errors_total() >= errors_before + count), (
            'the bad frame was not reported')
        self.spin_for(QUIET_S)
        published = sum(len(received) for received in self._received.values())
        assert published == published_before, 'a bad frame was published'

    def close(self):
        """Stop spinning and destroy the client and the nodes."""
        self.executor.shutdown()
        for node in [self.client_node] + self.nodes:
            node.destroy_node()
