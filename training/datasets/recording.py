"""
A ROS 2 recording (rosbag2: MCAP or sqlite3) as a reader: its paired frames as RgbdSamples.

Frames are paired by rgbd_perception.io.recordings.read_recording (depth with the nearest
colour, camera_info before it); ``start`` / ``stop`` / ``every`` select paired frames as a
Python slice does, so one recording gives disjoint training and held-out parts.  No labels:
what a recording offers is self-supervision (SimSiam views, depth removed from the sensor's
own frames for completion).  Sample fields: rgb, depth (metres, 0 = missing), K (0-based, from
camera_info), name = 'stamp <ns>'.
"""

import numpy as np
import torch

from rgbd_perception.io.recordings import DEFAULT_TOPICS, read_recording
from training.datasets.sample import RgbdSample


class RosRecording(torch.utils.data.Dataset):
    """Paired frames of a recording as RgbdSamples (see the module docstring), in memory."""

    def __init__(self, root, rgb_topic=DEFAULT_TOPICS[0], depth_topic=DEFAULT_TOPICS[1],
                 info_topic=DEFAULT_TOPICS[2], start=None, stop=None, every=1):
        """Read the recording ``root`` once; raises RecordingError when it cannot be used."""
        frames = read_recording(root, rgb_topic, depth_topic, info_topic)
        self.frames = frames[slice(start, stop, every)]

    def __len__(self):
        """Return the number of selected frames."""
        return len(self.frames)

    def __getitem__(self, index):
        """Return frame ``index`` as an RgbdSample."""
        frame = self.frames[index]
        fx, fy, cx, cy = frame.intrinsics
        return RgbdSample(rgb=frame.rgb, depth=frame.depth_mm.astype(np.float32) / 1000.0,
                          K=np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
                          name=f'stamp {frame.stamp_ns}')
