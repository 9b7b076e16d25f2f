"""Tests for the ROS plumbing: camera_info, QoS, error reports, diagnostics, env, params."""

import math
from pathlib import Path
from types import SimpleNamespace
import xml.etree.ElementTree as ElementTree

from diagnostic_msgs.msg import DiagnosticStatus
import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy
from ros_harness import make_node
from sensor_msgs.msg import CameraInfo
import yaml

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.camera import Intrinsics, IntrinsicsError
from rgbd_perception.geometry.detections import DetectionError
from rgbd_perception.io.data_paths import share_path
from rgbd_perception.io.images import FileFormatError
from rgbd_perception.io.pose_json import DetectionFileError
from rgbd_perception.io.ros_messages import (CameraInfoError, ImageFormatError,
                                             intrinsics_from_camera_info)
from rgbd_perception.ros.depth_completion_node import COMPLETION_PARAMETERS, \
    DepthCompletionNode
from rgbd_perception.ros.diagnostics import StageDiagnostics
from rgbd_perception.ros.environment import configure_venv_middleware, fastdds_profile_path
from rgbd_perception.ros.error_reporter import RateLimitedErrorReporter
from rgbd_perception.ros.hha_node import HHA_PARAMETERS, HhaNode
from rgbd_perception.ros.parameters import COMMON_PARAMETERS
from rgbd_perception.ros.perception_node import PERCEPTION_PARAMETERS
from rgbd_perception.ros.pose_node import POSE_PARAMETERS, PoseNode
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.depth_input import ColourError, DepthError, RawDepthError
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.stages.pose import PoseStage

FASTDDS = '{http://www.eprosima.com}'
MIDDLEWARE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'ROS_AUTOMATIC_DISCOVERY_RANGE',
                        'RMW_IMPLEMENTATION')


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        """Return the current fake time in seconds."""
        return self.now


# --- camera_info ------------------------------------------------------------------------

def camera_info(k, width=160, height=120):
    """Return a real sensor_msgs/CameraInfo with the given K and size."""
    return CameraInfo(width=width, height=height, k=[float(v) for v in k])


GOOD_K = (131.25, 0.0, 79.75, 0.0, 132.5, 59.75, 0.0, 0.0, 1.0)


def test_camera_info_good_k_gives_intrinsics():
    """A valid K gives Intrinsics with fx, fy, cx, cy taken from the right entries."""
    intrinsics = intrinsics_from_camera_info(camera_info(GOOD_K), (120, 160))
    assert intrinsics == Intrinsics(fx=131.25, fy=132.5, cx=79.75, cy=59.75)


def test_camera_info_accepts_colour_image_shape():
    """Extra image dimensions (channels) are ignored when checking the size."""
    intrinsics = intrinsics_from_camera_info(camera_info(GOOD_K), (120, 160, 3))
    assert intrinsics.fx == 131.25


def test_camera_info_zero_k_rejected():
    """An all-zero K (an uncalibrated driver) is rejected naming fx and fy."""
    with pytest.raises(CameraInfoError, match=r'fx=0\.0, fy=0\.0; both must be > 0'):
        intrinsics_from_camera_info(camera_info([0.0] * 9), (120, 160))


def test_camera_info_negative_fx_rejected():
    """A negative focal length is rejected and the message shows its value."""
    k = list(GOOD_K)
    k[0] = -131.25
    with pytest.raises(CameraInfoError, match=r'fx=-131\.25'):
        intrinsics_from_camera_info(camera_info(k), (120, 160))


@pytest.mark.parametrize('position', [0, 2, 4, 5, 8])
@pytest.mark.parametrize('bad', [math.nan, math.inf])
def test_camera_info_non_finite_k_rejected(position, bad):
    """A NaN or infinity anywhere in K is rejected with a message about finite numbers."""
    k = list(GOOD_K)
    k[position] = bad
    with pytest.raises(CameraInfoError, match='K must be 9 finite numbers'):
        intrinsics_from_camera_info(camera_info(k), (120, 160))


@pytest.mark.parametrize('width, height', [(320, 240), (160, 121), (120, 160)])
def test_camera_info_size_mismatch_rejected(width, height):
    """A camera_info for another image size is rejected naming both sizes."""
    msg = camera_info(GOOD_K, width=width, height=height)
    with pytest.raises(CameraInfoError) as info:
        intrinsics_from_camera_info(msg, (120, 160))
    assert f'{width}x{height}' in str(info.value)
    assert 'image size 160x120' in str(info.value)


def test_camera_info_k_of_wrong_length_rejected():
    """A K that is not 9 numbers (only possible with duck-typed messages) is rejected."""
    msg = SimpleNamespace(width=160, height=120, k=GOOD_K[:8])
    with pytest.raises(CameraInfoError, match='9 finite numbers'):
        intrinsics_from_camera_info(msg, (120, 160))


def test_camera_info_error_is_value_error():
    """The CameraInfoError is a ValueError, so generic input handling catches it."""
    assert issubclass(CameraInfoError, ValueError)


# --- the stage contract -----------------------------------------------------------------

@pytest.mark.parametrize('error, input_name', [
    (ImageFormatError, None), (CameraInfoError, None), (IntrinsicsError, None),
    (FileFormatError, None), (DetectionFileError, None), (DepthError, 'depth'),
    (RawDepthError, 'raw_depth'), (ColourError, 'rgb'), (DetectionError, 'detections')],
    ids=lambda value: getattr(value, '__name__', str(value)))
def test_every_input_error_is_an_input_error_naming_its_input(error, input_name):
    """Each is an InputError naming its input, all StageNode catches and routes by."""
    assert issubclass(error, InputError) and issubclass(error, ValueError)
    assert error('problem').input_name == input_name


@pytest.mark.ros
@pytest.mark.parametrize('node_class, parameters, stages', [
    (HhaNode, {}, ['HhaStage']),
    (DepthCompletionNode, {'publish_hha': True}, ['CompletionStage', 'HhaStage']),
    (PoseNode, {}, ['PoseStage'])], ids=['hha', 'completion', 'pose'])
def test_nodes_warm_their_stages_up_before_subscribing(
        node_class, parameters, stages, context, monkeypatch, tiny_completion_weights,
        untrained_pose_weights):
    """Every stage a node runs is warmed up once, before the node subscribes to anything."""
    events = []
    for stage_class in (HhaStage, CompletionStage, PoseStage):
        monkeypatch.setattr(stage_class, 'warm_up',
                            lambda stage: events.append(type(stage).__name__))
    subscribe = node_class.create_subscription
    monkeypatch.setattr(node_class, 'create_subscription',
                        lambda node, *args, **kwargs: events.append('subscribe')
                        or subscribe(node, *args, **kwargs))
    weights = {DepthCompletionNode: tiny_completion_weights,
               PoseNode: untrained_pose_weights['rgbd']}
    if node_class in weights:
        parameters = dict(parameters, weights=str(weights[node_class]))
    node = make_node(node_class, context, '/warm_up_order', **parameters)
    inputs = len(list(node.subscriptions))
    node.destroy_node()
    assert inputs >= 2
    assert events == stages + ['subscribe'] * inputs


# --- QoS --------------------------------------------------------------------------------

def test_qos_default_is_best_effort_sensor_data():
    """The default profile is best-effort, keep-last 5, volatile."""
    profile = qos_profile()
    assert profile.reliability == ReliabilityPolicy.BEST_EFFORT
    assert profile.history == HistoryPolicy.KEEP_LAST
    assert profile.depth == 5
    assert profile.durability == DurabilityPolicy.VOLATILE


def test_qos_reliable_selectable():
    """'reliable' selects reliable delivery."""
    assert qos_profile('reliable').reliability == ReliabilityPolicy.RELIABLE


@pytest.mark.parametrize('depth', [1, 10, 100])
def test_qos_depth_honoured(depth):
    """The history depth is the requested one."""
    assert qos_profile('best_effort', depth).depth == depth


@pytest.mark.parametrize('reliability', ['RELIABLE', 'best-effort', '', 'system_default'])
def test_qos_unknown_reliability_rejected(reliability):
    """An unknown reliability raises ValueError listing the valid choices."""
    with pytest.raises(ValueError, match=r"\['best_effort', 'reliable'\]"):
        qos_profile(reliability)


@pytest.mark.parametrize('depth', [0, -1])
def test_qos_bad_depth_rejected(depth):
    """A depth below 1 raises ValueError naming the depth."""
    with pytest.raises(ValueError, match=f'depth must be >= 1, got {depth}'):
        qos_profile('reliable', depth)


# --- RateLimitedErrorReporter -----------------------------------------------------------

def make_reporter(period=5.0):
    """Return (reporter, logged messages, clock)."""
    logged = []
    clock = FakeClock(100.0)
    return RateLimitedErrorReporter(logged.append, period=period, clock=clock), logged, clock


def test_reporter_first_report_names_topic_and_problem():
    """The first report is logged and names the topic and the problem."""
    reporter, logged, _ = make_reporter()
    assert reporter.report('/camera/depth', ValueError('depth has 3 negative values'))
    assert len(logged) == 1
    assert '/camera/depth' in logged[0]
    assert 'depth has 3 negative values' in logged[0]
    assert 'suppressed' not in logged[0]


def test_reporter_repeats_suppressed_then_counted():
    """Repeats within the period are suppressed, then the next log says how many."""
    reporter, logged, clock = make_reporter(period=5.0)
    reporter.report('/depth', ValueError('bad'))
    for step in range(3):
        clock.now += 1.0
        assert not reporter.report('/depth', ValueError(f'bad again {step}'))
    assert len(logged) == 1
    clock.now = 105.0  # exactly one period after the first log
    assert reporter.report('/depth', ValueError('still bad'))
    assert len(logged) == 2
    assert 'still bad' in logged[1]
    assert '(3 similar errors suppressed)' in logged[1]
    # The count starts again after it was reported.
    clock.now = 111.0
    assert reporter.report('/depth', ValueError('bad'))
    assert 'suppressed' not in logged[2]


def test_reporter_period_measured_from_last_log():
    """Suppressed repeats do not extend the period; it runs from the last logged message."""
    reporter, logged, clock = make_reporter(period=2.0)
    reporter.report('/t', 'problem', kind='k')
    clock.now += 1.5
    reporter.report('/t', 'problem', kind='k')
    clock.now += 0.5
    assert reporter.report('/t', 'problem', kind='k')
    assert len(logged) == 2


def test_reporter_topics_and_kinds_independent():
    """Different topics and different kinds are rate-limited separately."""
    reporter, logged, _ = make_reporter()
    assert reporter.report('/a', ValueError('x'))
    assert reporter.report('/b', ValueError('x'))
    assert reporter.report('/a', TypeError('x'))
    assert reporter.report('/a', 'text', kind='out_of_order')
    assert not reporter.report('/a', ValueError('other text, same kind'))
    assert not reporter.report('/a', 'other', kind='out_of_order')
    assert len(logged) == 4


def test_reporter_total_counts_every_report():
    """The total counts logged and suppressed reports alike."""
    reporter, logged, clock = make_reporter(period=10.0)
    for _ in range(4):
        reporter.report('/a', ValueError('x'))
        reporter.report('/b', ValueError('x'))
        clock.now += 1.0
    assert reporter.total == 8
    assert len(logged) == 2


# --- StageDiagnostics -------------------------------------------------------------------

def values_of(status):
    """Return the key/value pairs of a DiagnosticStatus as a dict."""
    return {kv.key: kv.value for kv in status.values}


def test_diagnostics_waiting_for_input():
    """Before any frame the status is OK with a 'waiting for input' message and zeros."""
    diagnostics = StageDiagnostics('hha_node: hha', hardware_id='hha', clock=FakeClock())
    status = diagnostics.status()
    assert status.level == DiagnosticStatus.OK
    assert status.message == 'waiting for input'
    assert status.name == 'hha_node: hha'
    assert status.hardware_id == 'hha'
    assert values_of(status) == {
        'latency_median_ms': '0.000', 'latency_p90_ms': '0.000', 'latency_p99_ms': '0.000',
        'latency_max_ms': '0.000', 'input_rate_hz': '0.00', 'frames_processed': '0',
        'frames_dropped': '0'}


def test_diagnostics_input_rate():
    """The input rate is (arrivals - 1) / time span of the arrivals."""
    clock = FakeClock(50.0)
    diagnostics = StageDiagnostics('s', clock=clock)
    diagnostics.input_received()
    assert diagnostics.input_rate_hz() == 0.0  # a single arrival has no rate
    for _ in range(8):
        clock.now += 0.125
        diagnostics.input_received()
    assert diagnostics.input_rate_hz() == pytest.approx(8.0)
    assert values_of(diagnostics.status())['input_rate_hz'] == '8.00'


def test_diagnostics_input_rate_uses_window():
    """Only the last ``window`` arrivals count towards the rate."""
    clock = FakeClock()
    diagnostics = StageDiagnostics('s', window=5, clock=clock)
    for step in range(20):
        clock.now += 1.0 if step < 10 else 0.25
        diagnostics.input_received()
    assert diagnostics.input_rate_hz() == pytest.approx(4.0)


def test_diagnostics_same_arrival_times_give_zero_rate():
    """Arrivals without a time span give a rate of 0 instead of dividing by zero."""
    diagnostics = StageDiagnostics('s', clock=FakeClock(3.0))
    diagnostics.input_received()
    diagnostics.input_received()
    assert diagnostics.input_rate_hz() == 0.0


def test_diagnostics_output_age_rate_skips_and_memory():
    """Published outputs give their rate and age percentiles; skips and memory are reported."""
    clock = FakeClock(10.0)
    diagnostics = StageDiagnostics('s', clock=clock, memory=lambda: 3 * 2 ** 20)
    for age in (0.1, 0.3, 0.2, 0.4, 0.5):
        clock.now += 0.5
        diagnostics.output_published(age)
    diagnostics.frames_skipped(7)
    values = values_of(diagnostics.status())
    assert values['output_rate_hz'] == '2.00'
    assert values['output_age_median_ms'] == '300.000'
    assert values['output_age_p90_ms'] == '460.000'
    assert values['frames_skipped'] == '7' and values['device_memory_mb'] == '3.0'
    assert diagnostics.status().level == DiagnosticStatus.OK  # skipping is the design


def test_diagnostics_latency_median_and_max_ok():
    """Processed frames give OK with the median and maximum latency in milliseconds."""
    diagnostics = StageDiagnostics('s', clock=FakeClock())
    for latency in (0.010, 0.030, 0.020, 0.0125):
        diagnostics.frame_processed(latency)
    status = diagnostics.status()
    assert status.level == DiagnosticStatus.OK
    assert status.message == 'ok'
    values = values_of(status)
    assert values['latency_median_ms'] == '16.250'
    assert values['latency_p90_ms'] == '27.000'
    assert values['latency_max_ms'] == '30.000'
    assert values['frames_processed'] == '4'
    assert values['frames_dropped'] == '0'


def test_diagnostics_latency_window():
    """Latencies older than the window no longer count."""
    diagnostics = StageDiagnostics('s', window=3, clock=FakeClock())
    for latency in (1.0, 1.0, 1.0, 0.002, 0.004, 0.003):
        diagnostics.frame_processed(latency)
    values = values_of(diagnostics.status())
    assert values['latency_median_ms'] == '3.000'
    assert values['latency_max_ms'] == '4.000'
    assert values['frames_processed'] == '6'


def test_diagnostics_warn_when_some_frames_dropped():
    """Drops after processed frames give WARN with the number dropped."""
    diagnostics = StageDiagnostics('s', clock=FakeClock())
    diagnostics.frame_processed(0.01)
    diagnostics.frame_dropped()
    diagnostics.frame_dropped(2)
    status = diagnostics.status()
    assert status.level == DiagnosticStatus.WARN
    assert status.message == '3 frames dropped'
    assert values_of(status)['frames_dropped'] == '3'


def test_diagnostics_error_when_every_frame_dropped():
    """Only dropped frames give ERROR."""
    diagnostics = StageDiagnostics('s', clock=FakeClock())
    diagnostics.frame_dropped()
    status = diagnostics.status()
    assert status.level == DiagnosticStatus.ERROR
    assert status.message == 'every frame so far was dropped'


# --- venv middleware --------------------------------------------------------------------

def test_middleware_sets_three_variables_on_empty_environment():
    """All three variables are set on an empty environment and returned."""
    environ = {}
    applied = configure_venv_middleware(environ)
    assert set(environ) == set(MIDDLEWARE_VARIABLES)
    assert applied == environ
    assert environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert environ['RMW_IMPLEMENTATION'] == 'rmw_fastrtps_cpp'
    assert environ['FASTDDS_DEFAULT_PROFILES_FILE'] == fastdds_profile_path()


def test_middleware_keeps_user_values():
    """Values the user already set are neither overridden nor reported as applied."""
    environ = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp',
               'FASTDDS_DEFAULT_PROFILES_FILE': '/home/me/profile.xml', 'OTHER': 'x'}
    applied = configure_venv_middleware(environ)
    assert applied == {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
    assert environ['RMW_IMPLEMENTATION'] == 'rmw_cyclonedds_cpp'
    assert environ['FASTDDS_DEFAULT_PROFILES_FILE'] == '/home/me/profile.xml'
    assert environ['OTHER'] == 'x'


def test_middleware_empty_value_counts_as_unset():
    """An empty variable is treated as unset and filled in."""
    environ = {'ROS_AUTOMATIC_DISCOVERY_RANGE': ''}
    configure_venv_middleware(environ)
    assert environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'


def test_fastdds_profile_has_large_shm_transport():
    """The shipped profile is Fast DDS XML with a 16 MiB SHM transport and no builtins."""
    path = Path(fastdds_profile_path())
    assert path.is_file()
    root = ElementTree.parse(path).getroot()
    assert root.tag == f'{FASTDDS}dds'
    descriptors = {
        d.findtext(f'{FASTDDS}transport_id'): d
        for d in root.iter(f'{FASTDDS}transport_descriptor')}
    shm = [d for d in descriptors.values() if d.findtext(f'{FASTDDS}type') == 'SHM']
    assert len(shm) == 1
    assert shm[0].findtext(f'{FASTDDS}segment_size') == '16777216'
    participants = list(root.iter(f'{FASTDDS}participant'))
    assert len(participants) == 1
    assert participants[0].get('is_default_profile') == 'true'
    rtps = participants[0].find(f'{FASTDDS}rtps')
    assert rtps.findtext(f'{FASTDDS}useBuiltinTransports') == 'false'
    used = [t.text for t in rtps.iter(f'{FASTDDS}transport_id')]
    shm_id = shm[0].findtext(f'{FASTDDS}transport_id')
    assert shm_id in used
    assert set(used) <= set(descriptors)  # every used transport is declared


# --- parameters -------------------------------------------------------------------------

#: Each node's config file and its declared parameters.
NODE_PARAMETERS = {'hha_node.yaml': COMMON_PARAMETERS + HHA_PARAMETERS,
                   'depth_completion_node.yaml': COMMON_PARAMETERS + COMPLETION_PARAMETERS,
                   'pose_node.yaml': COMMON_PARAMETERS + POSE_PARAMETERS,
                   'perception_node.yaml': COMMON_PARAMETERS + PERCEPTION_PARAMETERS}
ALL_SPECS = [(config, spec) for config, specs in NODE_PARAMETERS.items() for spec in specs]


def _spec_id(item):
    return f'{item[0]}:{item[1].name}' if isinstance(item, tuple) else str(item)


@pytest.mark.parametrize('item', ALL_SPECS, ids=_spec_id)
def test_parameter_has_description(item):
    """Every declared parameter has a non-empty description."""
    _, spec = item
    assert isinstance(spec.description, str)
    assert spec.description.strip()


@pytest.mark.parametrize('config', NODE_PARAMETERS)
def test_parameter_names_unique(config):
    """No parameter name is declared twice for a node."""
    names = [spec.name for spec in NODE_PARAMETERS[config]]
    assert len(names) == len(set(names))


def config_parameters(config):
    """Return the ros__parameters of config/<config>, skipping when it is absent."""
    path = share_path('config', config)
    if not path.is_file():
        pytest.skip(f'{path} not present')
    document = yaml.safe_load(path.read_text())
    assert len(document) == 1, 'expected one node section'
    (section,) = document.values()
    return flattened(section['ros__parameters'])


def flattened(parameters, prefix=''):
    """Return {dotted ROS parameter name: value} of a (nested) ros__parameters mapping."""
    flat = {}
    for key, value in parameters.items():
        if isinstance(value, dict):
            flat |= flattened(value, f'{prefix}{key}.')
        else:
            flat[prefix + key] = value
    return flat


@pytest.mark.parametrize('config', NODE_PARAMETERS)
def test_config_keys_are_declared_names(config):
    """Each node's config file sets exactly the parameters the node declares."""
    assert set(config_parameters(config)) == {spec.name for spec in NODE_PARAMETERS[config]}


@pytest.mark.parametrize('item', ALL_SPECS, ids=_spec_id)
def test_config_value_types_match_defaults(item):
    """Each value in a node's config file has the type of the declared default."""
    config, spec = item
    parameters = config_parameters(config)
    if spec.name not in parameters:
        pytest.skip(f'{spec.name} not in the config (reported by the keys test)')
    value = parameters[spec.name]
    assert type(value) is type(spec.default), f'{spec.name}: {value!r}'
    if isinstance(spec.default, list):
        assert len(value) == len(spec.default)
        assert all(type(v) is type(d) for v, d in zip(value, spec.default))
