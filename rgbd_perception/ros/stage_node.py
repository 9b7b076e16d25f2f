"""
Base class of the perception nodes: parameters, QoS, sync, diagnostics, error handling.

A concrete node's ``configure`` builds its stages and publishers, names its inputs after the
stage arguments they feed and calls ``start``; its ``on_frame`` turns each synchronised set of
messages into the messages to publish, running every decode and stage call through
``for_input``.  Everything else, the lifecycle included, lives here once.
"""

import time

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
import torch

from rgbd_perception.errors import InputError
from rgbd_perception.ros.diagnostics import StageDiagnostics
from rgbd_perception.ros.error_reporter import RateLimitedErrorReporter
from rgbd_perception.ros.parameters import COMMON_PARAMETERS, declare_parameters
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.ros.sync import ApproximateRgbdSync


class FrameInputError(Exception):
    """Wraps an input error with the topic whose message caused it."""

    def __init__(self, topic, error):
        super().__init__(str(error))
        self.topic = topic
        self.error = error


class StageNode(LifecycleNode):
    """
    A managed (lifecycle) node that synchronises its inputs and runs its stages per matched set.

    node_name: default node name; parameters: extra ParameterSpecs of the node;
    stage_name: name used in /diagnostics.

    Lifecycle (REP/ROS 2 managed nodes): configure runs the node's :meth:`configure` (build
    the stages, load models, create publishers, then :meth:`start` warms them up); activate
    subscribes to the inputs; deactivate unsubscribes and, where a stage runs on CUDA,
    releases the stages and their GPU memory (the next activate builds them again); cleanup
    releases stages and publishers.  With the ``autostart`` parameter (default true) the node
    configures and activates itself when built, as a plain node does; a failed configure
    then raises its error.  /diagnostics is published in every state.
    """

    def __init__(self, node_name, parameters, stage_name, **kwargs):
        super().__init__(node_name, **kwargs)
        self.params = declare_parameters(self, COMMON_PARAMETERS + tuple(parameters))
        self.input_qos = qos_profile(self.params['input_reliability'], self.params['qos_depth'])
        self.output_qos = qos_profile(self.params['output_reliability'],
                                      self.params['qos_depth'])
        self.errors = RateLimitedErrorReporter(self.get_logger().error,
                                               self.params['error_log_period'])
        self.diagnostics = StageDiagnostics(
            f'{self.get_fully_qualified_name()}: {stage_name}', hardware_id=stage_name)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.params['diagnostics_period'], self._publish_diagnostics)
        self._inputs = {}
        self._input_specs = []
        self._stages = []
        self._configured = ([], set())  # publishers and attributes made by configure()
        self._rebuild_on_activate = False
        self._sync = None
        self.configure_error = None
        if self.params['autostart']:
            self.trigger_configure()
            if self.configure_error is not None:
                raise self.configure_error
            self.trigger_activate()

    def configure(self):
        """Build the stages and publishers and call :meth:`start` (each node's own)."""
        raise NotImplementedError

    def start(self, inputs, stages):
        """
        Warm every stage up and name the inputs :meth:`on_activate` subscribes to.

        inputs: [(name, msg_type, topic), ...], the primary image first; name is the stage
        argument the input feeds ('depth', 'rgb', 'intrinsics', ...), as InputError names
        it.  stages: the stages ``on_frame`` runs (each has ``warm_up()`` and ``device``).
        """
        for stage in stages:
            stage.warm_up()
        self._input_specs, self._stages = list(inputs), list(stages)

    def on_configure(self, state):
        """Build the node's stages and publishers (lifecycle transition)."""
        publishers, attributes = set(self.publishers), set(vars(self))
        try:
            self.configure()
        except Exception as exc:  # noqa: B902 - any failure fails the transition, named
            self.configure_error = exc
            self.get_logger().error(f'configure failed: {type(exc).__name__}: {exc}')
            self._release(*self._made_since(publishers, attributes))
            return TransitionCallbackReturn.FAILURE
        self.configure_error = None
        self._configured = self._made_since(publishers, attributes)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        """Subscribe to the inputs (rebuilding stages a deactivate released)."""
        if self._rebuild_on_activate:
            self._rebuild_on_activate = False
            result = self.on_configure(state)
            if result != TransitionCallbackReturn.SUCCESS:
                return result
        self._sync = ApproximateRgbdSync(
            len(self._input_specs), self._on_matched, slop=self.params['sync_slop'],
            queue_size=self.params['sync_queue_size'], on_stale=self._on_stale)
        for index, (name, msg_type, topic) in enumerate(self._input_specs):
            self._inputs[name] = self.create_subscription(
                msg_type, topic, lambda msg, i=index: self._on_message(i, msg), self.input_qos)
        self.activated()
        return super().on_activate(state)

    def on_deactivate(self, state):
        """Unsubscribe; release CUDA stages (see the class docstring)."""
        for subscription in self._inputs.values():
            self.destroy_subscription(subscription)
        self._inputs, self._sync = {}, None
        self.deactivated()
        if any(getattr(stage, 'device', None) is not None and stage.device.type == 'cuda'
               for stage in self._stages):
            self._release(*self._configured)
            self._rebuild_on_activate = True
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Release the stages and the publishers configure made."""
        self._release(*self._configured)
        self._rebuild_on_activate = False
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        """Unsubscribe and release everything (from any state)."""
        if self._inputs:
            self.on_deactivate(state)
        self._release(*self._configured)
        return TransitionCallbackReturn.SUCCESS

    def _made_since(self, publishers, attributes):
        """Return (publishers, public attribute names) added since the given sets."""
        return ([p for p in self.publishers if p not in publishers],
                {name for name in set(vars(self)) - attributes if not name.startswith('_')})

    def _release(self, publishers, attributes):
        for publisher in publishers:
            if publisher in self.publishers:
                self.destroy_publisher(publisher)
        for name in attributes:
            if name in vars(self):
                delattr(self, name)
        self._stages, self._configured = [], ([], set())
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def activated(self):
        """Run after the inputs are subscribed (a node's hook; nothing by default)."""

    def deactivated(self):
        """Run after the inputs are unsubscribed (a node's hook; nothing by default)."""

    def topic(self, name):
        """Return the resolved topic name of the input called ``name`` (once configured)."""
        return next(self.resolve_topic_name(topic) for input_name, _, topic
                    in self._input_specs if input_name == name)

    def input_names(self):
        """Return the names of the inputs, primary first."""
        return [name for name, _, _ in self._input_specs]

    def _topic_at(self, index):
        return self.resolve_topic_name(self._input_specs[index][2])

    def _on_message(self, index, msg):
        if index == 0:
            self.diagnostics.input_received()
        dropped_before = self._sync.dropped[0]
        self._sync.add(index, msg)
        self.diagnostics.frame_dropped(self._sync.dropped[0] - dropped_before)

    def _on_stale(self, index, msg):
        stamp = msg.header.stamp
        if index == 0:  # count frames, not each of their messages
            self.diagnostics.frame_dropped()
        self.errors.report(
            self._topic_at(index),
            f'out-of-order stamp {stamp.sec}.{stamp.nanosec:09d} is not newer than the last '
            f'processed frame ({self._sync.last_delivered:.9f})', kind='out_of_order')

    def _on_matched(self, *msgs):
        self.run_guarded(self.diagnostics, self.on_frame, dict(zip(self.input_names(), msgs)))

    def run_guarded(self, diagnostics, function, *args):
        """
        Run ``function(*args)`` as one frame of a stage, counted in ``diagnostics``.

        A FrameInputError (from :meth:`for_input`) is reported on its topic, any other error
        as internal on the primary input's topic (CUDA out of memory: the allocator's cache
        is emptied first); either way the frame counts as dropped in ``diagnostics``, and
        the node goes on with the next frame.
        """
        start = time.perf_counter()
        try:
            function(*args)
        except FrameInputError as exc:
            diagnostics.frame_dropped()
            self.errors.report(exc.topic, exc.error, kind=type(exc.error).__name__)
            return
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            diagnostics.frame_dropped()
            self.errors.report(self._topic_at(0), f'CUDA out of memory, frame skipped: {exc}',
                               kind='out_of_memory')
            return
        except Exception as exc:  # noqa: B902 - a node must survive any frame
            diagnostics.frame_dropped()
            self.errors.report(self._topic_at(0), f'internal error {type(exc).__name__}: {exc}',
                               kind='internal')
            return
        diagnostics.frame_processed(time.perf_counter() - start)

    def for_input(self, name, function, *args, **kwargs):
        """
        Return ``function(*args, **kwargs)``, a decode of input ``name`` or a stage run on it.

        An InputError skips the frame with a report on the topic of the input the error
        names (its input_name, where this node has that input), else on input ``name``'s.
        """
        try:
            return function(*args, **kwargs)
        except InputError as exc:
            about = exc.input_name if exc.input_name in self.input_names() else name
            raise FrameInputError(self.topic(about), exc) from exc

    def on_frame(self, msgs):
        """Process one synchronised set of messages, {input name: message} (each node's)."""
        raise NotImplementedError

    def stage_diagnostics(self):
        """Return the StageDiagnostics /diagnostics reports (this node's one stage)."""
        return [self.diagnostics]

    def _publish_diagnostics(self):
        array = DiagnosticArray(status=[d.status() for d in self.stage_diagnostics()])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


def run_node(node_class, args=None):
    """Initialise rclpy, spin one ``node_class`` until shutdown, clean up (Humble and later)."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
