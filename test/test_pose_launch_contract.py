"""
pose.launch.py and config/rgbd_perception.rviz against the package, without a ROS install.

The launch file is read as Python source (launch_ros may be absent); each node it starts from
this package is then built in-process with the launch file's remappings and its parameter
section, and the topics RViz shows must be ones those nodes publish (or the camera's).
"""

import ast

import pytest
from ros_harness import make_node
import yaml

from rgbd_perception.io.data_paths import share_path
from rgbd_perception.ros.depth_completion_node import COMPLETION_PARAMETERS, \
    DepthCompletionNode
from rgbd_perception.ros.hha_node import HHA_PARAMETERS, HhaNode
from rgbd_perception.ros.mono_depth_node import MONO_DEPTH_PARAMETERS, MonoDepthNode
from rgbd_perception.ros.parameters import COMMON_PARAMETERS
from rgbd_perception.ros.pose_node import POSE_PARAMETERS, PoseNode

NODE_CLASSES = {'depth_completion_node': (DepthCompletionNode, COMPLETION_PARAMETERS),
                'hha_node': (HhaNode, HHA_PARAMETERS), 'pose_node': (PoseNode, POSE_PARAMETERS),
                'mono_depth_node': (MonoDepthNode, MONO_DEPTH_PARAMETERS)}
CAMERA_TOPICS = {'rgb/image_raw', 'rgb/camera_info', 'depth/image_raw', 'depth/camera_info'}
NAMESPACE = '/camera'


def launched_nodes():
    """Return [{package, executable, name, remappings}] of the Node() calls of pose.launch.py."""
    tree = ast.parse(share_path('launch', 'pose.launch.py').read_text())
    nodes = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'Node':
            fields = {k.arg: k.value for k in call.keywords}
            entry = {key: fields[key].value for key in ('package', 'executable', 'name')}
            entry['remappings'] = ast.literal_eval(fields['remappings']) \
                if 'remappings' in fields else []
            nodes.append(entry)
    return nodes


def test_launch_starts_the_three_nodes_monocular_depth_and_rviz():
    """Completion, HHA on the completed depth, pose, mono depth on request; RViz."""
    nodes = {n['executable']: n for n in launched_nodes()}
    assert set(nodes) == {'depth_completion_node', 'hha_node', 'pose_node', 'mono_depth_node',
                          'rviz2'}
    assert ('depth/image_raw', 'depth/completed') in nodes['hha_node']['remappings']
    source = share_path('launch', 'pose.launch.py').read_text()
    for name in ('rgbd_perception.yaml', 'rgbd_perception.rviz'):
        assert f"'{name}'" in source and share_path('config', name).is_file()
    for argument in ('camera', 'params_file', 'device', 'rviz', 'mono_depth'):
        assert f"DeclareLaunchArgument('{argument}'" in source


def test_parameter_file_sections_match_the_declared_parameters():
    """Every launched node has a section whose keys are exactly its declared parameters."""
    document = yaml.safe_load(share_path('config', 'rgbd_perception.yaml').read_text())
    ours = [n for n in launched_nodes() if n['package'] == 'rgbd_perception']
    assert set(document) == {f"/**/{n['name']}" for n in ours}
    for node in ours:
        _, specs = NODE_CLASSES[node['name']]
        keys = set(document[f"/**/{node['name']}"]['ros__parameters'])
        assert keys == {s.name for s in COMMON_PARAMETERS + specs}, node['name']


def rviz_topics():
    """Return the topic names of every display of config/rgbd_perception.rviz."""
    config = yaml.safe_load(share_path('config', 'rgbd_perception.rviz').read_text())
    displays = config['Visualization Manager']['Displays']
    return {d['Topic']['Value'] for d in displays if 'Topic' in d}, \
        {d['Class'] for d in displays}


@pytest.mark.ros
def test_rviz_shows_what_the_launched_nodes_publish(context, tiny_completion_weights,
                                                    untrained_pose_weights,
                                                    tiny_mono_depth_weights):
    """Each RViz topic is published by a launched node (remaps applied) or the camera."""
    document = yaml.safe_load(share_path('config', 'rgbd_perception.yaml').read_text())
    published, subscribed = set(), set()
    for node in (n for n in launched_nodes() if n['package'] == 'rgbd_perception'):
        node_class, _ = NODE_CLASSES[node['name']]
        values = dict(document[f"/**/{node['name']}"]['ros__parameters'], device='cpu')
        if node['name'] == 'depth_completion_node':
            values['weights'] = str(tiny_completion_weights)
        if node['name'] == 'pose_node':
            values['weights'] = str(untrained_pose_weights['rgbd'])
        if node['name'] == 'mono_depth_node':
            values['weights'] = str(tiny_mono_depth_weights)
        remaps = [arg for a, b in node['remappings'] for arg in ('-r', f'{a}:={b}')]
        instance = make_node(node_class, context, NAMESPACE,
                             ['--ros-args', *remaps] if remaps else None, **values)
        published |= {p.topic_name for p in instance.publishers}
        subscribed |= {s.topic_name for s in instance.subscriptions}
        instance.destroy_node()
    camera = {f'{NAMESPACE}/{t}' for t in CAMERA_TOPICS}
    topics, classes = rviz_topics()
    assert topics and topics <= published | camera, topics - published - camera
    assert {f'{NAMESPACE}/objects/{t}' for t in ('poses', 'markers', 'overlay')} <= topics
    assert {f'{NAMESPACE}/depth/completed', f'{NAMESPACE}/hha/image',
            f'{NAMESPACE}/depth/mono'} <= topics
    assert subscribed - published <= camera, subscribed - published - camera
    assert 'rviz_default_plugins/TF' in classes
