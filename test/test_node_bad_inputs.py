"""
The HHA node's bad-input list sent to depth_completion_node, pose_node and mono_depth_node.

Each bad frame must give one error naming the topic of the bad input and the problem, no output
at all, and the next valid frame must be served (perception_node: test_perception_node.py).
"""

import array as pyarray
import itertools

from geometry_msgs.msg import PoseArray
import numpy as np
import pytest
from ros_harness import frame, FRAME_ID, image_message, info_message, make_node, SMALL, stamp
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from test_hha_node import BAD_INPUTS

from rgbd_perception.ros.depth_completion_node import DepthCompletionNode
from rgbd_perception.ros.mono_depth_node import MonoDepthNode
from rgbd_perception.ros.pose_node import PoseNode

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

_namespaces = itertools.count()


def colour_message(seconds, array=None, encoding='rgb8'):
    """Return the sample colour image (or ``array``) as an Image stamped at ``seconds``."""
    return image_message(frame(0).rgb if array is None else array, encoding, seconds)


def raw_colour(seconds, encoding, step, data, height=SMALL[1]):
    """Build a colour Image by hand (for messages numpy_to_image refuses to write)."""
    msg = Image(header=Header(stamp=stamp(seconds), frame_id=FRAME_ID), height=height,
                width=SMALL[0], step=step, encoding=encoding)
    msg.data = pyarray.array('B', data)
    return msg


def _colour_case(build):
    return lambda seconds: {'rgb': build(seconds)}


def _info_case(build):
    def make(seconds):
        _, info = build(seconds)
        return {'info': info}
    return make


#: Bad colour images: (case, builder -> {'rgb': Image}, input name, words of the problem).
COLOUR_CASES = [
    ('colour_wrong_encoding', _colour_case(lambda s: colour_message(
        s, frame(0).depth_mm, '16UC1')), 'rgb', ["'16UC1'", 'expected encodings']),
    ('colour_unknown_encoding', _colour_case(lambda s: raw_colour(
        s, 'yuv422', SMALL[0] * 2, bytes(SMALL[0] * SMALL[1] * 2))), 'rgb',
     ["'yuv422'", 'unsupported encoding']),
    ('colour_truncated', _colour_case(lambda s: raw_colour(
        s, 'rgb8', SMALL[0] * 3, bytes(100))), 'rgb', ['data length 100']),
    ('colour_zero_size', _colour_case(lambda s: raw_colour(s, 'rgb8', SMALL[0] * 3, b'', 0)),
     'rgb', ['zero size']),
    ('colour_step_too_small', _colour_case(lambda s: raw_colour(
        s, 'rgb8', SMALL[0], bytes(SMALL[0] * SMALL[1]))), 'rgb', ['step 160 < width 160']),
]
INFO_CASES = [(case, _info_case(build), name, words) for case, build, name, words in BAD_INPUTS
              if name == 'intrinsics']
DEPTH_CASES = [(case, lambda s, b=build: dict(zip(('depth', 'info'), b(s))), name, words)
               for case, build, name, words in BAD_INPUTS]
SIZE_MISMATCH = ('colour_depth_size_mismatch', _colour_case(lambda s: colour_message(
    s, np.zeros((60, 80, 3), np.uint8))), 'rgb', ['colour size 80x60 != depth size 160x120'])
#: The same for pose_node, whose camera_info is the colour's (so it has the colour's size).
POSE_SIZE_MISMATCH = ('colour_depth_size_mismatch', lambda s: {
    'rgb': colour_message(s, np.zeros((60, 80, 3), np.uint8)),
    'info': info_message(frame(0).intrinsics, (80, 60), s)}, 'rgb',
    ['colour size 80x60 != depth size 160x120'])


def send(client, seconds, rgb=None, depth=None, info=None, labels=None):
    """Publish one frame on the node's inputs; messages given replace the sample's."""
    sample = frame(0)
    info = info or info_message(sample.intrinsics, SMALL, seconds)
    messages = {'rgb': rgb or colour_message(seconds),
                'depth': depth or image_message(sample.depth_mm, '16UC1', seconds),
                'intrinsics': info, 'detections': labels}
    for name in client.node.input_names():
        client.publish(client.node.topic(name), messages[name])


def check_bad_frame_then_good_one(client, case, input_name, problem, good=lambda s: {}):
    """
    Send the bad frame, check the single report and silence, then a good frame's output.

    case, good: seconds -> the messages replacing the sample's in the bad / good frame.
    """
    send(client, 1.0, **case(1.0))
    client.expect_skipped()
    assert client.errors_total() == 1, client.logged
    assert f"'{client.node.topic(input_name)}'" in client.logged[0]
    for words in problem:
        assert words in client.logged[0]
    send(client, 2.0, **good(2.0))
    (topic,) = client._received
    assert client.wait_for(topic).header.stamp.sec == 2
    assert client.errors_total() == 1


@pytest.fixture
def make_client_of(context, make_client, tiny_completion_weights, tiny_mono_depth_weights,
                   untrained_pose_weights):
    """Return make(node kind, **parameters): the node with tiny weights and its client."""
    kinds = {'completion': (DepthCompletionNode, tiny_completion_weights, 'depth/completed',
                            Image),
             'pose': (PoseNode, untrained_pose_weights['rgbd'], 'objects/poses', PoseArray),
             'mono': (MonoDepthNode, tiny_mono_depth_weights, 'depth/mono', Image)}

    def make(kind, **parameters):
        node_class, weights, output, output_type = kinds[kind]
        namespace = f'/bad_{kind}_{next(_namespaces)}'
        node = make_node(node_class, context, namespace, weights=str(weights), **parameters)
        client = make_client(namespace, [node], outputs={output: output_type})
        client.wait_matched()
        return client
    return make


def _ids(cases):
    return [case[0] for case in cases]


@pytest.mark.parametrize('case, input_name, problem',
                         [c[1:] for c in DEPTH_CASES + [SIZE_MISMATCH]],
                         ids=_ids(DEPTH_CASES + [SIZE_MISMATCH]))
def test_completion_node(make_client_of, case, input_name, problem):
    """depth_completion_node: the depth and camera_info list and a colour of another size."""
    check_bad_frame_then_good_one(make_client_of('completion'), case, input_name, problem)


@pytest.mark.parametrize('case, input_name, problem',
                         [c[1:] for c in DEPTH_CASES + [POSE_SIZE_MISMATCH] + COLOUR_CASES],
                         ids=_ids(DEPTH_CASES + [POSE_SIZE_MISMATCH] + COLOUR_CASES))
def test_pose_node(make_client_of, case, input_name, problem):
    """pose_node: the whole list, colour included."""
    check_bad_frame_then_good_one(make_client_of('pose', min_score=0.0), case, input_name,
                                  problem)


@pytest.mark.parametrize('case, input_name, problem', [c[1:] for c in COLOUR_CASES + INFO_CASES],
                         ids=_ids(COLOUR_CASES + INFO_CASES))
def test_mono_depth_node(make_client_of, case, input_name, problem):
    """mono_depth_node: the colour and camera_info cases (it takes no depth)."""
    check_bad_frame_then_good_one(make_client_of('mono'), case, input_name, problem)


def test_pose_node_unknown_label(make_client_of):
    """A label image naming an object the catalogue lacks is reported on objects/labels."""
    client = make_client_of('pose', use_label_image=True)

    def labels(object_id):
        image = np.zeros(SMALL[::-1], np.uint16)
        image[40:80, 60:100] = object_id
        return lambda seconds: {'labels': image_message(image, 'mono16', seconds)}
    check_bad_frame_then_good_one(client, labels(999), 'detections',
                                  ['label 999 is no object'], good=labels(1104))
