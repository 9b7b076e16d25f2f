"""
``rgbd-perception replay``: the perception pipeline over a ROS 2 recording, written as MCAP.

Reads colour, depth and camera_info from a rosbag2 recording (MCAP or sqlite3, see
rgbd_perception.io.recordings: depth paired with the nearest colour within 20 ms), runs the
enabled outputs of a PerceptionPipeline on every frame as fast as they run, and writes the
recording's own messages on the three input topics (unchanged) plus the outputs, under the
topics and types of the nodes, in the camera's namespace:

| output | topic | type | header |
|---|---|---|---|
| completed | <ns>/depth/completed | sensor_msgs/Image 32FC1 m | the depth's |
| hha | <ns>/hha/image | sensor_msgs/Image rgb8 (HHA of the completed depth) | the depth's |
| poses | <ns>/objects/poses | geometry_msgs/PoseArray (model -> camera optical) | the colour's |
| mono | <ns>/depth/mono | sensor_msgs/Image 32FC1 m | the colour's |

``<ns>`` is what precedes ``depth/image_raw`` in the depth topic (``/camera/depth/image_raw``
-> ``/camera``) unless given.  Output messages are logged at their header stamps.  ``out``
ending in ``.mcap`` is one MCAP file (what Foxglove opens; ``ros2 bag play`` takes it too),
anything else a rosbag2 folder (metadata.yaml + MCAP).  The file appears only when complete.
A frame that does not decode, or whose input a stage rejects, is reported through ``log`` and
skipped for that output; the others are still written.
"""

from pathlib import Path
import time

import numpy as np

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.geometry.pose import quaternion_xyzw
from rgbd_perception.io.recordings import (copy_messages, image_message, pose_array_message,
                                           read_recording, RecordingWriter)
from rgbd_perception.stages.pipeline import COLOUR_HEADER, GROUPS, OUTPUT_TOPICS

DEPTH_SUFFIX = 'depth/image_raw'


def output_namespace(depth_topic):
    """Return the namespace of a depth topic: '/camera/depth/image_raw' -> '/camera'."""
    topic = '/' + depth_topic.strip('/')
    return topic[:-len(DEPTH_SUFFIX)].rstrip('/') if topic.endswith('/' + DEPTH_SUFFIX) else ''


def output_message(name, result, stamp_ns, frame_id):
    """Return the rosbags message of one output's result (see the module docstring)."""
    encoding = OUTPUT_TOPICS[name][1]
    if encoding is None:
        return pose_array_message([(e.translation, quaternion_xyzw(e.rotation))
                                   for e in result], stamp_ns, frame_id)
    return image_message(np.asarray(result), encoding, stamp_ns, frame_id)


def replay(bag, out, pipeline, topics, namespace=None, log=print):
    """
    Run ``pipeline`` over recording ``bag`` and write ``out``; return a summary dict.

    topics: (colour, depth, camera_info) topics of the recording.  Summary: frames, written
    (messages per output), skipped (frames per output), seconds (wall time of the stages).
    """
    out = Path(out)
    namespace = output_namespace(topics[1]) if namespace is None else namespace.rstrip('/')
    skipped = dict.fromkeys(pipeline.outputs, 0)
    frames = read_recording(bag, *topics, on_bad_frame=lambda error: _skip_all(
        error, skipped, log))
    written = dict.fromkeys(pipeline.outputs, 0)
    elapsed = 0.0
    with RecordingWriter(out) as writer:
        copy_messages(bag, topics, writer)
        for frame in frames:
            try:
                prepared = pipeline.prepare(frame.rgb, frame.depth_mm,
                                            Intrinsics(*frame.intrinsics))
            except InputError as exc:
                _skip_all(f'frame at stamp {frame.stamp_ns} ns: {exc}', skipped, log)
                continue
            for group in pipeline.groups():
                start = time.perf_counter()
                try:
                    results = pipeline.run_group(group, prepared)
                except InputError as exc:
                    log(f'frame at stamp {frame.stamp_ns} ns: {group} skipped: {exc}')
                    for name in set(skipped) & set(GROUPS[group]):
                        skipped[name] += 1
                    continue
                finally:
                    elapsed += time.perf_counter() - start
                for name, result in results.items():
                    stamp = frame.rgb_stamp_ns if name in COLOUR_HEADER else frame.stamp_ns
                    stamp = frame.stamp_ns if stamp is None else stamp
                    writer.write(f'{namespace}/{OUTPUT_TOPICS[name][0]}', stamp,
                                 output_message(name, result, stamp, frame.frame_id))
                    written[name] += 1
    return {'frames': len(frames), 'written': written, 'skipped': skipped, 'seconds': elapsed}


def _skip_all(error, skipped, log):
    log(f'{error}; frame skipped')
    for name in skipped:
        skipped[name] += 1
