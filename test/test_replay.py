"""rgbd-perception replay: a recording of the bundled sample through the pipeline into MCAP."""

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import numpy as np
import pytest

from rgbd_perception.cli import main
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import data_file
from rgbd_perception.io.recordings import (camera_info_message, image_message,
                                           RecordedFrame, RecordingWriter, write_recording)
from rgbd_perception.stages.pipeline import parse_outputs, PerceptionPipeline
from rgbd_perception.tools.replay import output_namespace
from rgbd_perception.tools.sample_scene import sample_frame

TOPICS = ('/camera/rgb/image_raw', '/camera/depth/image_raw', '/camera/rgb/camera_info')
OUTPUT_TYPES = {'/camera/depth/completed': 'sensor_msgs/msg/Image',
                '/camera/hha/image': 'sensor_msgs/msg/Image',
                '/camera/objects/poses': 'geometry_msgs/msg/PoseArray',
                '/camera/depth/mono': 'sensor_msgs/msg/Image'}
FRAME_ID = 'camera_color_optical_frame'


@pytest.fixture(scope='module')
def frames():
    """Three VGA frames of the bundled sample sequence, 10 Hz stamps."""
    return [RecordedFrame(f.rgb, f.depth_mm, f.intrinsics, 10 ** 9 + i * 10 ** 8)
            for i, f in enumerate(sample_frame(i) for i in range(3))]


@pytest.fixture(scope='module')
def pipeline():
    """Build the replay's pipeline on the CPU with the demo catalogue, as the CLI does."""
    catalogue = load_catalogue(data_file('config/objects/demo.yaml'))
    return PerceptionPipeline(device='cpu', catalogue=catalogue)


def decoded(path):
    """Return {topic: [(log time ns, schema name, decoded message)]} read by the mcap library."""
    by_topic = {}
    with open(path, 'rb') as handle:
        reader = make_reader(handle, decoder_factories=[DecoderFactory()])
        for schema, channel, message, msg in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append((message.log_time, schema.name, msg))
    return by_topic


def image_array(msg, dtype, channels=1):
    """Return the (H, W[, C]) array of a decoded Image whose rows are packed."""
    shape = (msg.height, msg.width) + ((channels,) if channels > 1 else ())
    return np.frombuffer(bytes(msg.data), dtype).reshape(shape)


def test_replay_writes_every_output_as_the_pipeline_computes_it(frames, pipeline, tmp_path,
                                                                capsys):
    """Inputs copied, four outputs per frame with the input headers, values = the stages'."""
    bag = tmp_path / 'bag'
    write_recording(bag, frames, topics=TOPICS)
    out = tmp_path / 'replayed.mcap'
    assert main(['replay', str(bag), '--out', str(out), '--device', 'cpu']) == 0
    assert 'written: completed 3, hha 3, poses 3, mono 3' in capsys.readouterr().out
    assert out.is_file() and not list(tmp_path.glob('.*partial'))
    by_topic = decoded(out)
    assert set(by_topic) == set(TOPICS) | set(OUTPUT_TYPES)
    assert all(len(messages) == 3 for messages in by_topic.values())
    for topic, schema in OUTPUT_TYPES.items():
        stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for _, s, m in by_topic[topic]
                  if s == schema and m.header.frame_id == FRAME_ID]
        assert stamps == [(1, 0), (1, 10 ** 8), (1, 2 * 10 ** 8)], topic
    frame = frames[1]
    expected = pipeline(frame.rgb, frame.depth_mm, Intrinsics(*frame.intrinsics))
    completed = by_topic['/camera/depth/completed'][1][2]
    assert completed.encoding == '32FC1'
    np.testing.assert_array_equal(image_array(completed, np.float32), expected['completed'])
    hha = by_topic['/camera/hha/image'][1][2]
    np.testing.assert_array_equal(image_array(hha, np.uint8, 3), expected['hha'])
    mono = by_topic['/camera/depth/mono'][1][2]
    np.testing.assert_allclose(image_array(mono, np.float32), expected['mono'], rtol=1e-5)
    poses = by_topic['/camera/objects/poses'][1][2].poses
    assert len(poses) == len(expected['poses']) > 0
    for pose, estimate in zip(poses, expected['poses']):
        position = [pose.position.x, pose.position.y, pose.position.z]
        np.testing.assert_allclose(position, estimate.translation, atol=1e-6)
    raw_depth = by_topic['/camera/depth/image_raw'][0][2]
    np.testing.assert_array_equal(image_array(raw_depth, np.uint16), frames[0].depth_mm)


def test_replay_skips_a_broken_frame_and_writes_the_rest(frames, tmp_path, capsys):
    """A sqlite3 bag with a truncated depth message: named, skipped, the others written."""
    bag = tmp_path / 'broken'
    with RecordingWriter(bag, storage='sqlite3') as writer:
        for index, frame in enumerate(frames):
            stamp = frame.stamp_ns
            depth = image_message(frame.depth_mm, '16UC1', stamp, FRAME_ID)
            if index == 1:
                depth.data = depth.data[:100]
            writer.write('/cam/rgb', stamp, image_message(frame.rgb, 'rgb8', stamp, FRAME_ID))
            writer.write('/cam/depth', stamp, depth)
            writer.write('/cam/info', stamp, camera_info_message(frame.intrinsics, 480, 640,
                                                                 stamp, FRAME_ID))
    out = tmp_path / 'folder_out'
    code = main(['replay', str(bag), '--rgb-topic', '/cam/rgb', '--depth-topic', '/cam/depth',
                 '--info-topic', '/cam/info', '--outputs', 'hha', '--out', str(out),
                 '--device', 'cpu'])
    captured = capsys.readouterr()
    assert code == 1
    assert 'stamp 1100000000 ns' in captured.err and '/cam/depth' in captured.err
    assert 'skipped (hha 1)' in captured.err and 'written: hha 2' in captured.out
    (mcap_file,) = out.glob('*.mcap')
    assert (out / 'metadata.yaml').is_file()
    by_topic = decoded(mcap_file)
    assert len(by_topic['/hha/image']) == 2 and set(by_topic) == {
        '/cam/rgb', '/cam/depth', '/cam/info', '/hha/image'}


def test_replay_refuses_bad_arguments(tmp_path, capsys):
    """Unknown outputs and a missing recording: one clear line, exit status 1."""
    assert main(['replay', str(tmp_path / 'none'), '--out', str(tmp_path / 'o.mcap'),
                 '--outputs', 'hha,depth']) == 1
    assert "subset of completed,hha,poses,mono, got 'hha,depth'" in capsys.readouterr().err
    assert main(['replay', str(tmp_path / 'none'), '--out', str(tmp_path / 'o.mcap'),
                 '--outputs', 'hha', '--device', 'cpu']) == 1
    assert 'recording not found' in capsys.readouterr().err


def test_output_names():
    """Output lists keep the pipeline order; namespaces come from the depth topic."""
    assert parse_outputs(' mono, hha ') == ('hha', 'mono')
    assert output_namespace('/camera/depth/image_raw') == '/camera'
    assert output_namespace('depth/image_raw') == ''
    assert output_namespace('/a/b/depth/image_raw/') == '/a/b'
    assert output_namespace('/cam/depth') == ''
