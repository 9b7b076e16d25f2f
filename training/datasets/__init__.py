"""
Readers of real RGB-D datasets in their official on-disk layouts, all returning RgbdSample.

``DATASETS`` maps a short name to the reader class; every reader is a torch Dataset whose
constructor takes the dataset root (and a split where the dataset has one) and raises
:class:`DatasetLayoutError` naming the missing file or folder.
"""

from rgbd_perception.io.images import DatasetLayoutError
from training.datasets.bop import Bop
from training.datasets.kitti_depth import KittiDepthCompletion
from training.datasets.nyu import NyuDepthV2
from training.datasets.recording import RosRecording
from training.datasets.sample import RgbdSample
from training.datasets.sun_rgbd import SunRgbd
from training.datasets.tum import TumRgbd
from training.datasets.void import VoidDepth
from training.datasets.washington import leave_one_instance_out, WashingtonRgbdObject

DATASETS = {
    'nyu': NyuDepthV2,
    'sun_rgbd': SunRgbd,
    'tum': TumRgbd,
    'kitti_depth': KittiDepthCompletion,
    'void': VoidDepth,
    'bop': Bop,
    'washington': WashingtonRgbdObject,
    'recording': RosRecording,
}

__all__ = ['Bop', 'DATASETS', 'DatasetLayoutError', 'KittiDepthCompletion',
           'leave_one_instance_out', 'NyuDepthV2', 'RgbdSample', 'RosRecording',
           'SunRgbd', 'TumRgbd', 'VoidDepth', 'WashingtonRgbdObject']
