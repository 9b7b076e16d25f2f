"""
Frames for monocular depth, with the focal length each was seen with (pixels at its size).

The synthetic folders and real readers of depth completion.

The synthetic folders are the completion task's (tabletops and room views, structured-light and
time-of-flight sensors, written by ``python -m training synth``): 'clean' (exact depth) is the
target and 'depth' (the sensor model's, with holes) feeds the RGB-D branch.  Real readers'
target is their dense ground truth, else their sensor depth.
"""

import json
from pathlib import Path

import torch
from torch.utils.data import Dataset

from rgbd_perception.io.images import require
from training.completion.data import (centre_crop, RealCompletionFrames,
                                      SyntheticCompletionFrames)


def synthetic_focal(folder):
    """Return fx (pixels) of a ``synth`` output folder's camera.json."""
    camera = require(Path(folder) / 'camera.json', 'synthetic camera file (camera.json)')
    return float(json.loads(camera.read_text())['fx'])


class SyntheticMonoFrames(Dataset):
    """
    SyntheticCompletionFrames of ``folders`` at 1 / downsample size, with focal and sky flag.

    'focal': () float32 fx in pixels at that size; 'sky_known': True (a pixel without exact
    depth saw no surface: the sky).
    sources: (N,) index into folders of each frame (for data mixing).
    """

    def __init__(self, folders, downsample=2):
        self.frames = SyntheticCompletionFrames(folders, downsample)
        self.sources = self.frames.sources
        self.focal = torch.tensor([synthetic_focal(folder) / downsample for folder in folders],
                                  dtype=torch.float32)

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, index):
        item = self.frames[index]
        return {**item, 'focal': self.focal[self.sources[index]], 'sky_known': torch.tensor(True)}


class RealMonoFrames(Dataset):
    """
    RealCompletionFrames (a reader centre-cropped and resized to ``size``) with focal and sky.

    'focal' comes from the reader's K; 'sky_known' is False (a missing real depth is a hole,
    not the sky).
    """

    def __init__(self, dataset, root, size, args=None):
        self.frames = RealCompletionFrames(dataset, root, size, args)

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, index):
        sample = self.frames.reader[index]
        columns = centre_crop(*sample.depth.shape, self.frames.size)[1]
        crop_width = columns.stop - columns.start
        item = self.frames.item(sample)
        return {**item, 'focal': torch.tensor(float(sample.K[0, 0]) * self.frames.size[1]
                                              / crop_width),
                'sky_known': torch.tensor(False)}
