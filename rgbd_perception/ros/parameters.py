"""Declarative node parameters: each has a default, a type and a description."""

from dataclasses import dataclass

from rcl_interfaces.msg import ParameterDescriptor


@dataclass(frozen=True)
class ParameterSpec:
    """One ROS parameter: name, default value (fixes the type) and a description."""

    name: str
    default: object
    description: str
    read_only: bool = True


def declare_parameters(node, specs):
    """
    Declare ``specs`` on ``node`` and return {name: value} after overrides.

    Values come from the command line (``-p``), ``--params-file`` (the files in
    ``config/``) or the defaults here. Read-only parameters are fixed at start-up.
    """
    values = {}
    for spec in specs:
        descriptor = ParameterDescriptor(description=spec.description,
                                         read_only=spec.read_only)
        param = node.declare_parameter(spec.name, spec.default, descriptor)
        values[spec.name] = param.value
    return values


COMMON_PARAMETERS = (
    ParameterSpec('autostart', True,
                  'configure and activate when started (a plain node); false: wait for a '
                  'lifecycle manager (ros2 lifecycle set <node> configure / activate)'),
    ParameterSpec('device', 'auto', "compute device: 'auto' (CUDA when available), 'cpu', "
                  "'cuda' or 'cuda:N'"),
    ParameterSpec('input_reliability', 'best_effort',
                  "QoS reliability of the subscriptions: 'best_effort' (sensor data) or "
                  "'reliable'"),
    ParameterSpec('output_reliability', 'best_effort',
                  "QoS reliability of the publishers: 'best_effort' or 'reliable'"),
    ParameterSpec('qos_depth', 5, 'QoS history depth (keep last N) of every topic'),
    ParameterSpec('sync_slop', 0.02,
                  'seconds within which the stamps of an image and its camera_info must lie'),
    ParameterSpec('sync_queue_size', 10, 'messages kept per input while waiting for a match'),
    ParameterSpec('diagnostics_period', 1.0, 'seconds between /diagnostics messages'),
    ParameterSpec('error_log_period', 5.0,
                  'seconds between repeated error messages of the same kind and topic'),
)
