"""In-process tests of perception_node over real rclpy topics (CPU, tiny untrained weights)."""

import itertools
import threading

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
import numpy as np
import pytest
from ros_harness import frame, image_message, info_message, make_node, QUIET_S, SMALL
from sensor_msgs.msg import Image
from test_hha_node import BAD_INPUTS
from test_node_bad_inputs import COLOUR_CASES
import torch
from visualization_msgs.msg import MarkerArray

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import data_file
from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.perception_node import PerceptionNode
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.stages.mono_depth import MonoDepthStage
from rgbd_perception.stages.pose import PoseStage

pytestmark = [pytest.mark.ros, pytest.mark.timeout(240)]

COLOUR_FRAME, DEPTH_FRAME = 'camera_color_optical_frame', 'camera_depth_optical_frame'
IMAGES = ('depth/completed', 'hha/image', 'depth/mono', 'objects/overlay')
OUTPUTS = {**dict.fromkeys(IMAGES, Image), 'objects/poses': PoseArray,
           'objects/markers': MarkerArray}
_namespaces = itertools.count()


def send(client, seconds, index=0, depth=None, rgb=None, info=None):
    """
    Publish a sample frame's colour, camera_info (colour frame) and depth (depth frame).

    depth, rgb, info: messages sent instead of the sample frame's.
    """
    sample = frame(index)
    client.publish('rgb/image_raw', rgb or image_message(sample.rgb, 'rgb8', seconds,
                                                         COLOUR_FRAME))
    client.publish('rgb/camera_info', info or info_message(sample.intrinsics, SMALL, seconds,
                                                           COLOUR_FRAME))
    client.publish('depth/image_raw', depth or image_message(sample.depth_mm, '16UC1', seconds,
                                                             DEPTH_FRAME))


@pytest.fixture
def weights(tiny_completion_weights, tiny_mono_depth_weights, untrained_pose_weights):
    """Return the node's weight parameters: tiny untrained models of every stage."""
    return {'completion.weights': str(tiny_completion_weights),
            'mono_depth.weights': str(tiny_mono_depth_weights),
            'pose.weights': str(untrained_pose_weights['rgbd']), 'pose.min_score': 0.0}


@pytest.fixture
def make_perception(context, make_client, weights):
    """Return make(**parameters): a PerceptionNode and its matched client."""
    def make(**parameters):
        namespace = f'/perception_{next(_namespaces)}'
        node = make_node(PerceptionNode, context, namespace, **weights, **parameters)
        client = make_client(namespace, [node], outputs={
            topic: kind for topic, kind in OUTPUTS.items()
            if any(p.topic_name.endswith(topic) for p in node.publishers)})
        client.wait_matched()
        return client

    return make


def test_every_output_equals_its_stage_with_its_input_header(make_perception, weights):
    """One frame: completed depth, its HHA, mono depth and poses as the stages compute them."""
    client = make_perception()
    assert [s.topic_name.rsplit('/', 2)[-2:] for s in client.node.subscriptions] == [
        ['rgb', 'image_raw'], ['depth', 'image_raw'], ['rgb', 'camera_info']]
    send(client, 3.25)
    for topic in OUTPUTS:
        client.wait_for(topic)
    sample = frame(0)
    intrinsics = Intrinsics(*sample.intrinsics)
    completed = CompletionStage(weights=weights['completion.weights'], device='cpu')(
        sample.rgb, sample.depth_mm)
    received = image_to_numpy(client.messages('depth/completed')[0])
    np.testing.assert_allclose(received, completed, rtol=1e-5)
    np.testing.assert_array_equal(
        image_to_numpy(client.messages('hha/image')[0]),
        HhaStage('cpu')(received, intrinsics, raw_depth=sample.depth_mm))
    mono_stage = MonoDepthStage(weights=weights['mono_depth.weights'], device='cpu')
    mono = mono_stage(sample.rgb, intrinsics)
    np.testing.assert_allclose(image_to_numpy(client.messages('depth/mono')[0]), mono,
                               rtol=1e-5)
    catalogue = load_catalogue(data_file('config/objects/demo.yaml'))
    estimates = PoseStage(catalogue, weights['pose.weights'], device='cpu', min_score=0.0)(
        sample.rgb, sample.depth_mm, intrinsics)
    poses = client.messages('objects/poses')[0].poses
    assert len(poses) == len(estimates)
    for pose, estimate in zip(poses, estimates):
        np.testing.assert_allclose([pose.position.x, pose.position.y, pose.position.z],
                                   estimate.translation, atol=1e-6)
    for topic in OUTPUTS:
        header = client.messages(topic)[0].markers[0].header if topic == 'objects/markers' \
            else client.messages(topic)[0].header
        expected = DEPTH_FRAME if topic in ('depth/completed', 'hha/image') else COLOUR_FRAME
        assert (header.frame_id, header.stamp.sec, header.stamp.nanosec) == (
            expected, 3, 250_000_000), topic


def test_outputs_are_switched_by_parameters(make_perception):
    """publish_* false: neither that stage is built nor its topic advertised."""
    client = make_perception(publish_poses=False, publish_mono=False, publish_completed=False)
    node = client.node
    assert node.pipeline.outputs == ('hha',) and list(node.workers) == ['depth']
    advertised = {p.topic_name.split('/', 2)[-1] for p in node.publishers}
    assert 'hha/image' in advertised and not advertised & {'depth/completed', 'depth/mono',
                                                           'objects/poses'}
    send(client, 1.0)
    client.wait_for('hha/image')


def test_a_slow_stage_takes_the_newest_frame_and_never_slows_the_fast_one(make_perception):
    """Poses held busy: completion serves all 5 frames, poses the first and the newest only."""
    client = make_perception(publish_mono=False)
    node = client.node
    gate, entered = threading.Event(), threading.Event()
    serve_poses = node.pipeline.poses

    def slow_poses(*args, **kwargs):
        entered.set()
        assert gate.wait(120)
        return serve_poses(*args, **kwargs)
    node.pipeline.poses = slow_poses
    for index in range(5):
        send(client, 1.0 + index, index=index)
        client.wait_for('depth/completed', index + 1)
        assert client.spin_until(entered.is_set)
    assert client.messages('objects/poses') == []
    gate.set()
    client.wait_for('objects/poses', 2)
    client.spin_for(QUIET_S)
    assert [m.header.stamp.sec for m in client.messages('objects/poses')] == [1, 5]
    assert [m.header.stamp.sec for m in client.messages('depth/completed')] == [1, 2, 3, 4, 5]
    assert node.group_diagnostics['poses'].skipped == 3
    assert node.group_diagnostics['depth'].skipped == 0


def _colour_of_other_size(seconds):
    return {'rgb': image_message(np.zeros((60, 80, 3), np.uint8), 'rgb8', seconds,
                                 COLOUR_FRAME),
            'info': info_message(frame(0).intrinsics, (80, 60), seconds, COLOUR_FRAME)}


def _depth_case(builder):
    def build(seconds):
        depth, info = builder(seconds)
        info.header.frame_id = COLOUR_FRAME
        return {'depth': depth, 'info': info}
    return build


#: (case, keyword arguments of send, input named in the log, words of the problem)
PIPELINE_BAD_INPUTS = [(case, _depth_case(builder), name, words)
                       for case, builder, name, words in BAD_INPUTS] + [
    ('colour_depth_size_mismatch', _colour_of_other_size, 'rgb',
     ['colour size 80x60 != depth size 160x120'])] + COLOUR_CASES


@pytest.mark.parametrize('builder, input_name, problem',
                         [case[1:] for case in PIPELINE_BAD_INPUTS],
                         ids=[case[0] for case in PIPELINE_BAD_INPUTS])
def test_bad_input_is_reported_once_and_the_next_frame_served(make_perception, builder,
                                                              input_name, problem):
    """A bad frame: one error naming its topic, no output at all; the next frame: every one."""
    client = make_perception()
    send(client, 1.0, **builder(1.0))
    client.expect_skipped()
    assert client.errors_total() == 1
    message = client.logged[0]
    assert f"'{client.node.topic(input_name)}'" in message
    for words in problem:
        assert words in message
    send(client, 2.0)
    for topic in OUTPUTS:
        assert client.wait_for(topic).header.stamp.sec == 2 if topic != 'objects/markers' \
            else True
    assert client.errors_total() == 1


def test_diagnostics_report_the_decode_and_every_stage_group(make_perception):
    """/diagnostics: one status per group with latency, output age, rates and skip counts."""
    client = make_perception(diagnostics_period=0.2)
    diagnostics = client.client_node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda msg: arrays.append(msg), 10)
    arrays = []
    send(client, 1.0)
    client.wait_for('objects/poses')
    node_name = client.node.get_fully_qualified_name()

    def statuses():
        for array in reversed(arrays):
            found = {s.name: {kv.key: kv.value for kv in s.values} for s in array.status
                     if s.name.startswith(node_name)}
            if len(found) == 4 and all(int(v['frames_processed']) >= 1 for v in found.values()):
                return found
        return None
    assert client.spin_until(lambda: statuses() is not None)
    found = statuses()
    assert set(found) == {f'{node_name}: {g}' for g in ('decode', 'depth', 'poses', 'mono')}
    for group in ('depth', 'poses', 'mono'):
        values = found[f'{node_name}: {group}']
        assert {'latency_p90_ms', 'output_age_median_ms', 'output_rate_hz',
                'frames_skipped'} <= set(values)
        assert float(values['latency_median_ms']) > 0
    client.client_node.destroy_subscription(diagnostics)


def test_deactivate_stops_the_workers_and_activate_serves_again(make_perception):
    """Lifecycle: inactive = no subscriptions, no worker threads; active again = outputs."""
    client = make_perception(publish_poses=False, publish_mono=False)
    node = client.node
    threads = [worker._thread for worker in node.workers.values()]
    node.trigger_deactivate()
    assert node.workers == {} and not any(t.is_alive() for t in threads)
    assert not [s for s in node.subscriptions if 'image_raw' in s.topic_name]
    node.trigger_activate()
    client.wait_matched(['rgb/image_raw', 'depth/image_raw', 'rgb/camera_info'])
    send(client, 4.0)
    assert client.wait_for('depth/completed').header.stamp.sec == 4


def test_cuda_out_of_memory_skips_the_frame_and_the_next_is_served(make_perception):
    """An out-of-memory error in a stage: reported, that frame skipped, the node goes on."""
    client = make_perception(publish_poses=False, publish_mono=False)
    node = client.node
    run_group, failures = node.pipeline.run_group, []

    def out_of_memory_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2 GiB')
        return run_group(*args, **kwargs)
    node.pipeline.run_group = out_of_memory_once
    send(client, 1.0)
    assert client.spin_until(lambda: client.logged)
    assert 'CUDA out of memory, frame skipped' in client.logged[0]
    assert node.group_diagnostics['depth'].dropped == 1
    send(client, 2.0)
    assert client.wait_for('depth/completed').header.stamp.sec == 2


def test_an_out_of_order_frame_is_reported_and_skipped(make_perception):
    """A frame older than the last one served: reported out of order, nothing published."""
    client = make_perception(publish_poses=False, publish_mono=False)
    send(client, 2.0)
    client.wait_for('depth/completed')
    client.wait_for('hha/image')
    send(client, 1.0)
    client.expect_skipped()
    assert 'out-of-order stamp 1.000000000' in client.logged[0]
    send(client, 3.0)
    assert client.wait_for('depth/completed', 2).header.stamp.sec == 3
