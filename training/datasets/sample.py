"""
The one sample schema of every real-dataset reader, and the file helpers they share.

Intrinsics convention: ``K`` is 0-based (OpenCV / ROS: pixel centres at integer coordinates
from 0) for every dataset.  TUM, KITTI, VOID and BOP publish such values; NYU Depth v2, SUN
RGB-D and Washington RGB-D Object publish values for their MATLAB toolboxes (1-based), which
their readers convert with :class:`rgbd_perception.geometry.camera.Intrinsics`.
"""

from dataclasses import dataclass

import numpy as np

from rgbd_perception.io.images import read_depth, read_rgb, require, to_depth_metres


@dataclass(eq=False)
class RgbdSample:
    """
    One registered RGB-D frame of H x W pixels; fields a dataset lacks stay None.

    eq=False because the fields are numpy arrays.
    """

    rgb: np.ndarray                         # (H, W, 3) uint8 RGB
    depth: np.ndarray                       # (H, W) float32 metres, 0 = missing
    K: np.ndarray                           # (3, 3) float64 0-based K of the registered frame
    depth_gt: np.ndarray | None = None      # (H, W) float32 metres, 0 = missing (completion)
    masks: np.ndarray | None = None         # (N, H, W) bool instance masks
    object_ids: np.ndarray | None = None    # (N,) int64 object / class ids of the masks
    poses: np.ndarray | None = None         # (N, 4, 4) float64 model->camera, metres
    labels: np.ndarray | None = None        # (H, W) int64 class labels (semantic)
    label: int | None = None                # image-level class (Washington)
    gravity: np.ndarray | None = None       # (3,) float64 unit vector, gravity (down), camera
    name: str = ''                          # dataset-specific id for messages


def read_colour(path):
    """Read a colour or grey image as (H, W, 3) uint8 RGB; a missing file is a layout error."""
    return read_rgb(require(path, 'image'))


def read_depth_png(path, metres_per_unit):
    """Read a 16-bit depth PNG as (H, W) float32 metres: value * metres_per_unit, 0 = missing."""
    return to_depth_metres(read_depth(require(path, 'depth image')), metres_per_unit)
