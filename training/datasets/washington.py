"""
Washington RGB-D Object dataset (Lai et al., ICRA 2011): crops of 300 objects in 51 classes.

Kinect v1 turntable videos, each frame cropped around the object.

On-disk layout (``root`` = rgbd-dataset or rgbd-dataset_eval)::

    <category>/<instance>/<instance>_<video>_<frame>_crop.png       colour crop
    <category>/<instance>/<instance>_<video>_<frame>_depthcrop.png  uint16 mm, 0 = missing
    <category>/<instance>/<instance>_<video>_<frame>_maskcrop.png   optional object mask
    <category>/<instance>/<instance>_<video>_<frame>_loc.txt        'x,y' crop top-left

Frames are the *_crop.png files, in natural order (video and frame numbers as integers).
Labels: label = index of the category in the sorted category folder names (``categories``).
Splits: none on disk; :func:`leave_one_instance_out` draws the standard instance-recognition
split (one held-out instance per category, seeded).

K: the full-frame camera of the toolbox's ``depthToCloud.m`` (f = 570.3, centre (320, 240),
1-based MATLAB pixel coordinates) shifted to the crop.  Assumption: the 'x,y' of loc.txt is the
1-based (column, row) of the crop's top-left pixel, as that function uses it, so the crop's
principal point is (321 - x, 241 - y) 1-based, (320 - x, 240 - y) 0-based (the K given); the
colour and depth crops share that window.

Sample fields: rgb, depth (metres), K, label; masks (1, H, W) and object_ids (label,) when the
mask crop exists, else None; name = '<category>/<instance>_<video>_<frame>'.
"""

import re

import numpy as np
import torch

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import DatasetLayoutError, read_mask, require
from training.datasets.sample import read_colour, read_depth_png, RgbdSample

FOCAL_PX = 570.3
CENTRE_PX = (320.0, 240.0)  # 1-based (column, row) of the full 640 x 480 frame
CROP_SUFFIX = '_crop.png'


def natural_key(text):
    """Return a sort key ordering the digit runs of ``text`` as integers."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', text)]


def crop_intrinsics(loc_file):
    """Return the 0-based (3, 3) K of a crop from its loc.txt (1-based top-left 'x,y')."""
    x, y = (float(v) for v in re.split(r'[,\s]+', require(loc_file, 'crop location file')
                                       .read_text().strip())[:2])
    return Intrinsics(FOCAL_PX, FOCAL_PX, CENTRE_PX[0] + 1.0 - x, CENTRE_PX[1] + 1.0 - y,
                      pixel_origin=1).with_origin(0).matrix()


class WashingtonRgbdObject(torch.utils.data.Dataset):
    """Washington RGB-D Object crops as RgbdSamples (see the module docstring)."""

    def __init__(self, root):
        """Index every frame of every instance under ``root``."""
        root = require(root, 'Washington RGB-D Object folder')
        self.categories = sorted(p.name for p in root.iterdir() if p.is_dir())
        crops = sorted(root.glob(f'*/*/*{CROP_SUFFIX}'),
                       key=lambda p: natural_key(p.relative_to(root).as_posix()))
        if not crops:
            raise DatasetLayoutError(f'{root}: missing <category>/<instance>/*{CROP_SUFFIX}')
        # (category index, instance name, path prefix '<folder>/<instance>_<video>_<frame>')
        self.frames = [(self.categories.index(p.parent.parent.name), p.parent.name,
                        p.parent / p.name[:-len(CROP_SUFFIX)]) for p in crops]

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, index):
        """Return frame ``index`` as an RgbdSample."""
        label, _, prefix = self.frames[index]
        mask_file = prefix.with_name(prefix.name + '_maskcrop.png')
        masks = read_mask(mask_file)[None] if mask_file.is_file() else None
        ids = None if masks is None else np.array([label], dtype=np.int64)
        return RgbdSample(
            rgb=read_colour(prefix.with_name(prefix.name + CROP_SUFFIX)),
            depth=read_depth_png(prefix.with_name(prefix.name + '_depthcrop.png'), 0.001),
            K=crop_intrinsics(prefix.with_name(prefix.name + '_loc.txt')),
            masks=masks, object_ids=ids, label=label,
            name=f'{self.categories[label]}/{prefix.name}')


def leave_one_instance_out(dataset, seed=0):
    """
    Return (train, test) frame index lists of a seeded leave-one-instance-out split.

    For every category one instance, drawn uniformly with numpy's default_rng(seed) from the
    category's instances in natural order, goes to test; all other frames go to train.
    """
    rng = np.random.default_rng(seed)
    instances = {}
    for label, instance, _ in dataset.frames:
        instances.setdefault(label, set()).add(instance)
    held_out = {sorted(names, key=natural_key)[rng.integers(len(names))]
                for _, names in sorted(instances.items())}
    test = [i for i, (_, instance, _) in enumerate(dataset.frames) if instance in held_out]
    train = [i for i, (_, instance, _) in enumerate(dataset.frames) if instance not in held_out]
    return train, test
