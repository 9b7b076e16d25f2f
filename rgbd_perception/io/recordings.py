"""
RGB-D frames of ROS 2 recordings (rosbag2: MCAP or sqlite3), read and written with ``rosbags``.

``rosbags`` reads and writes both storage formats without a ROS install, so the same code
serves the venv and a colcon workspace.

Reading (:func:`read_recording`):
Every depth message is paired with the colour message nearest in header stamp (within
``max_skew_s``) and the newest camera_info before it; unpaired messages are skipped.  Topics
follow the package's interface (DESIGN.md): colour ``rgb/image_raw`` (rgb8, bgr8, rgba8,
bgra8, mono8), depth ``depth/image_raw`` (the nodes' DEPTH_ENCODINGS: 16UC1 / mono16 mm,
32FC1 / 64FC1 m; registered to the colour) and colour ``rgb/camera_info`` (its K gives the
intrinsics).  Frames come out in depth-stamp
order as RecordedFrame tuples; a message that does not decode raises RecordingError naming
its topic and stamp.

Writing: :class:`RecordingWriter` logs rosbags messages (:func:`image_message`,
:func:`camera_info_message`, :func:`pose_array_message`) or raw CDR (:func:`copy_messages`);
:func:`write_recording` writes each frame as rgb8 colour, 16UC1 depth and camera_info with one
header (stamp, frame_id), the layout :func:`read_recording` reads.
"""

import bisect
from pathlib import Path
import shutil
from typing import NamedTuple

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from rgbd_perception.errors import InputError
from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS
from rgbd_perception.io.images import to_depth_mm
from rgbd_perception.io.ros_messages import (image_to_numpy, image_to_rgb,
                                             intrinsics_from_camera_info,
                                             pinhole_camera_info_fields, stamp_nanoseconds)

DEFAULT_TOPICS = ('rgb/image_raw', 'depth/image_raw', 'rgb/camera_info')
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)


class RecordingError(InputError):
    """A recording that cannot be read or a message in it that does not decode."""


class RecordedFrame(NamedTuple):
    """
    One frame: rgb (H, W, 3) uint8 RGB; depth_mm (H, W) uint16 mm, 0 = missing.

    intrinsics: (fx, fy, cx, cy) pixels, 0-based (camera_info's K); stamp_ns: the depth's
    header stamp; frame_id: the depth's header frame (registered depth: the colour camera's);
    rgb_stamp_ns: the paired colour message's stamp (None: stamp_ns).
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: tuple
    stamp_ns: int
    frame_id: str = 'camera_color_optical_frame'
    rgb_stamp_ns: int | None = None


def _normalised(topic):
    return '/' + topic.lstrip('/')


def _decode_depth(msg):
    depth = image_to_numpy(msg, DEPTH_ENCODINGS)
    return depth if depth.dtype == np.uint16 else to_depth_mm(depth)


def _messages(bag, topics):
    """Return {topic: [(stamp_ns, msg)]} of the recording's messages on ``topics``."""
    bag = Path(bag)
    if not bag.exists():
        raise RecordingError(f'{bag}: recording not found')
    by_topic = {topic: [] for topic in topics}
    try:
        with AnyReader([bag], default_typestore=TYPESTORE) as reader:
            connections = [c for c in reader.connections if c.topic in by_topic]
            missing = sorted(set(by_topic) - {c.topic for c in connections})
            if missing:
                present = sorted({c.topic for c in reader.connections})
                raise RecordingError(f'{bag}: no messages on {missing}; topics there: {present}')
            for connection, _, raw in reader.messages(connections=connections):
                msg = reader.deserialize(raw, connection.msgtype)
                by_topic[connection.topic].append((stamp_nanoseconds(msg), msg))
    except RecordingError:
        raise
    except Exception as exc:  # rosbags raises its own error classes per storage backend
        raise RecordingError(f'{bag}: cannot read the recording: {exc}') from exc
    return {topic: sorted(items, key=lambda item: item[0]) for topic, items in by_topic.items()}


def _nearest(items, stamp):
    stamps = [s for s, _ in items]
    index = bisect.bisect_left(stamps, stamp)
    candidates = [i for i in (index - 1, index) if 0 <= i < len(items)]
    return min(candidates, key=lambda i: abs(stamps[i] - stamp), default=None)


def read_recording(bag, rgb_topic=DEFAULT_TOPICS[0], depth_topic=DEFAULT_TOPICS[1],
                   info_topic=DEFAULT_TOPICS[2], max_skew_s=0.02, on_bad_frame=None):
    """
    Return the [RecordedFrame] of a recording: one per depth frame that pairs.

    on_bad_frame: None raises RecordingError at the first frame that does not decode; a
    function instead receives that error and the frame is skipped.
    """
    rgb_topic, depth_topic, info_topic = (_normalised(t)
                                          for t in (rgb_topic, depth_topic, info_topic))
    messages = _messages(bag, (rgb_topic, depth_topic, info_topic))
    colours, infos = messages[rgb_topic], messages[info_topic]
    info_stamps = [s for s, _ in infos]
    frames = []
    for stamp, depth_msg in messages[depth_topic]:
        colour_index = _nearest(colours, stamp)
        info_index = bisect.bisect_right(info_stamps, stamp) - 1
        if colour_index is None or info_index < 0:
            continue
        colour_stamp, colour_msg = colours[colour_index]
        if abs(colour_stamp - stamp) > max_skew_s * 1e9:
            continue
        try:
            rgb = image_to_rgb(colour_msg)
            depth = _decode_depth(depth_msg)
            k = intrinsics_from_camera_info(infos[info_index][1], rgb.shape[:2])
            if depth.shape != rgb.shape[:2]:
                raise RecordingError(f'{depth_topic} is {depth.shape}, {rgb_topic} '
                                     f'{rgb.shape[:2]}: depth must be registered to the colour '
                                     'image')
        except InputError as exc:
            error = RecordingError(f'{bag}: frame at stamp {stamp} ns ({rgb_topic}, '
                                   f'{depth_topic}, {info_topic}): {exc}')
            if on_bad_frame is None:
                raise error from exc
            on_bad_frame(error)
            continue
        frames.append(RecordedFrame(rgb, depth, (k.fx, k.fy, k.cx, k.cy), stamp,
                                    depth_msg.header.frame_id, colour_stamp))
    if not frames:
        raise RecordingError(f'{bag}: no depth frame has a colour frame within {max_skew_s} s '
                             'and a camera_info before it')
    return frames


def _header(stamp_ns, frame_id):
    types = TYPESTORE.types
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_message(array, encoding, stamp_ns, frame_id):
    """
    Return a rosbags sensor_msgs/Image of an (H, W) or (H, W, C) array.

    encoding: the ROS encoding the array's dtype and channels already have (e.g. 'rgb8',
    '16UC1', '32FC1'); rows are packed (step = W * C * itemsize), host byte order.
    """
    array = np.ascontiguousarray(array)
    return TYPESTORE.types['sensor_msgs/msg/Image'](
        header=_header(stamp_ns, frame_id), height=array.shape[0], width=array.shape[1],
        encoding=encoding, is_bigendian=int(np.little_endian is False), step=array.strides[0],
        data=array.view(np.uint8).reshape(-1))


def camera_info_message(intrinsics, height, width, stamp_ns, frame_id):
    """Return a rosbags sensor_msgs/CameraInfo of a distortion-free (fx, fy, cx, cy) camera."""
    types = TYPESTORE.types
    fields = {key: np.asarray(value, np.float64) if isinstance(value, list) else value
              for key, value in pinhole_camera_info_fields(intrinsics).items()}
    return types['sensor_msgs/msg/CameraInfo'](
        header=_header(stamp_ns, frame_id), height=height, width=width, **fields, binning_x=0,
        binning_y=0, roi=types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def pose_array_message(poses, stamp_ns, frame_id):
    """
    Return a rosbags geometry_msgs/PoseArray.

    poses: [(translation (3,) m, quaternion (x, y, z, w))], model to ``frame_id``.
    """
    types = TYPESTORE.types
    return types['geometry_msgs/msg/PoseArray'](header=_header(stamp_ns, frame_id), poses=[
        types['geometry_msgs/msg/Pose'](
            position=types['geometry_msgs/msg/Point'](*(float(v) for v in translation)),
            orientation=types['geometry_msgs/msg/Quaternion'](*(float(v) for v in quaternion)))
        for translation, quaternion in poses])


class RecordingWriter:
    """
    A new recording written message by message: a rosbag2 folder, or one ``.mcap`` file.

    path: a folder (rosbag2: metadata.yaml + the storage file, 'mcap' or 'sqlite3'), or a
    file name ending in .mcap (one MCAP file, what Foxglove opens and ``ros2 bag play``
    takes).  The recording is written beside ``path`` under a hidden name and moved there
    only when complete (an existing one is replaced); a failed write leaves nothing.
    Use as a context manager; :meth:`write` logs a rosbags message on a topic at a time in
    ns (topics are made absolute, a topic's type is fixed by its first message);
    :meth:`write_raw` logs already serialised CDR bytes.
    """

    def __init__(self, path, storage='mcap'):
        if storage not in STORAGES:
            raise ValueError(f'storage must be one of {sorted(STORAGES)}, got {storage!r}')
        self.path = Path(path)
        if self.path.suffix == '.mcap' and storage != 'mcap':
            raise ValueError(f'{self.path}: a .mcap file needs storage mcap')
        self._staging = self.path.with_name(f'.{self.path.name}.partial')
        self._bag = self._staging / self.path.stem  # the storage file: <stem>.<storage>
        self._writer = Writer(self._bag, version=9, storage_plugin=STORAGES[storage])
        self._connections = {}

    def __enter__(self):
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True)
        self._writer.open()
        return self

    def __exit__(self, exc_type, *exc_info):
        self._writer.close()
        if exc_type is None:
            if self.path.suffix == '.mcap':
                (self._bag / f'{self.path.stem}.mcap').replace(self.path)
            else:
                shutil.rmtree(self.path, ignore_errors=True)
                self._bag.rename(self.path)
        shutil.rmtree(self._staging, ignore_errors=True)

    def _connection(self, topic, msgtype):
        topic = _normalised(topic)
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype,
                                                                   typestore=TYPESTORE)
        return self._connections[topic]

    def write(self, topic, time_ns, msg):
        """Serialise and log ``msg`` (a rosbags message) on ``topic``."""
        connection = self._connection(topic, msg.__msgtype__)
        self._writer.write(connection, int(time_ns),
                           TYPESTORE.serialize_cdr(msg, connection.msgtype))

    def write_raw(self, topic, msgtype, time_ns, data):
        """Log CDR bytes of a ``msgtype`` message on ``topic``."""
        self._writer.write(self._connection(topic, msgtype), int(time_ns), data)


def write_recording(path, frames, topics=DEFAULT_TOPICS, storage='mcap',
                    frame_id='camera_color_optical_frame'):
    """
    Write RecordedFrames to a new rosbag2 folder ``path`` (storage 'mcap' or 'sqlite3').

    topics: (colour, depth, camera_info) names; each frame is rgb8 colour, 16UC1 depth and
    its camera_info with one header (stamp, ``frame_id``), logged at the header stamp.
    """
    rgb_topic, depth_topic, info_topic = topics
    with RecordingWriter(path, storage) as writer:
        for frame in frames:
            stamp = int(frame.stamp_ns)
            height, width = frame.depth_mm.shape
            writer.write(rgb_topic, stamp, image_message(frame.rgb, 'rgb8', stamp, frame_id))
            writer.write(depth_topic, stamp, image_message(
                frame.depth_mm.astype(np.uint16), '16UC1', stamp, frame_id))
            writer.write(info_topic, stamp, camera_info_message(
                frame.intrinsics, height, width, stamp, frame_id))


def copy_messages(bag, topics, writer):
    """Log every message of ``topics`` in recording ``bag`` unchanged into a RecordingWriter."""
    wanted = {_normalised(t) for t in topics}
    try:
        with AnyReader([Path(bag)], default_typestore=TYPESTORE) as reader:
            connections = [c for c in reader.connections if c.topic in wanted]
            for connection, time_ns, raw in reader.messages(connections=connections):
                writer.write_raw(connection.topic, connection.msgtype, time_ns, raw)
    except Exception as exc:  # rosbags raises its own error classes per storage backend
        raise RecordingError(f'{bag}: cannot copy its messages: {exc}') from exc
