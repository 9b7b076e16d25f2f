"""
SUN RGB-D (Song et al., CVPR 2015): 10335 frames of four sensors, one folder per frame.

On-disk layout (``root`` = the SUNRGBD folder)::

    <sensor>/<...>/<scene>/image/<name>.jpg       colour
    <sensor>/<...>/<scene>/depth/<name>.png       uint16, see below
    <sensor>/<...>/<scene>/intrinsics.txt         3 x 3 K (MATLAB 1-based pixel coordinates)
    <sensor>/<...>/<scene>/extrinsics/<t>.txt     optional, 3 x 4; the last file sorted by name
    <sensor>/<...>/<scene>/seg.mat                optional, ``seglabel`` (H, W)

Scenes are the folders holding both image/ and depth/ (found recursively, sorted).  K: fx, fy
and the principal point of intrinsics.txt, converted to 0-based.

Depth: the PNG value v is the depth in millimetres rotated left by 3 bits; the toolbox's
``read3dPoints.m`` undoes it as ``bitor(bitshift(v, -3), bitshift(v, 16 - 3))`` on uint16
(a 16-bit right rotation by 3), divides by 1000 and clips at 8 m; this reader does the same.

Gravity: the toolbox maps a camera point (x, y, z) (x right, y down, z forward) to the
gravity-aligned frame (z up) as ``Rtilt @ (x, z, -y)`` with Rtilt = extrinsics[:, :3].  Up is
therefore Rtilt[2] in the (x, z, -y) axes, i.e. (Rtilt[2, 0], -Rtilt[2, 2], Rtilt[2, 1]) in the
camera frame, and gravity (down) is its negation.  None without extrinsics.

Labels: ``seglabel`` of seg.mat (indices into that file's own ``names`` list, 0 = unlabeled;
not the 37-class set of SUNRGBD2Dseg.mat), None when seg.mat is absent.

Splits: 'all', or 'train' / 'test' of the toolbox's ``traintestSUNRGBD/allsplit.mat``
(``alltrain`` / ``alltest`` hold absolute paths of the authors' machine; the part after
'SUNRGBD/' is matched against the scene path relative to ``root``).
"""

from pathlib import Path

import numpy as np
from scipy.io import loadmat
import torch

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import DatasetLayoutError, read_depth, require, to_depth_metres
from training.datasets.sample import read_colour, RgbdSample

MAX_DEPTH_M = 8.0
SPLIT_KEYS = {'train': 'alltrain', 'test': 'alltest'}


def decode_depth(raw):
    """Return (H, W) float32 metres from the (H, W) uint16 SUN RGB-D depth PNG values."""
    millimetres = (raw >> 3) | (raw << 13)
    return np.minimum(to_depth_metres(millimetres), MAX_DEPTH_M)


def gravity_from_extrinsics(extrinsics):
    """Return the (3,) gravity (down) unit vector in the camera frame from a 3 x 4 extrinsics."""
    up_tilted = np.asarray(extrinsics, dtype=np.float64)[2, :3]
    up = np.array([up_tilted[0], -up_tilted[2], up_tilted[1]])
    return -up / np.linalg.norm(up)


def split_scenes(split_file, split):
    """Return the set of scene paths relative to the SUNRGBD folder of a toolbox split."""
    paths = loadmat(require(split_file, 'toolbox split file'))[SPLIT_KEYS[split]].ravel()
    return {str(p.item()).rstrip('/').split('SUNRGBD/', 1)[-1] for p in paths}


class SunRgbd(torch.utils.data.Dataset):
    """SUN RGB-D frames as RgbdSamples (see the module docstring)."""

    def __init__(self, root, split='all', split_file=None, depth_folder='depth'):
        """
        Index every scene under ``root``.

        split: 'all', 'train' or 'test'; split_file defaults to
        ``root/../SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat``.  depth_folder: 'depth' (raw)
        or 'depth_bfx' (the toolbox's filled depth).
        """
        self.root = require(root, 'SUN RGB-D folder')
        self.depth_folder = depth_folder
        self.scenes = sorted(p.parent for p in self.root.rglob('image')
                             if (p.parent / depth_folder).is_dir())
        if not self.scenes:
            raise DatasetLayoutError(f'{self.root}: no scene folder with image/ and '
                                     f'{depth_folder}/')
        if split != 'all':
            if split not in SPLIT_KEYS:
                raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
            default = self.root.parent / 'SUNRGBDtoolbox' / 'traintestSUNRGBD' / 'allsplit.mat'
            wanted = split_scenes(Path(split_file or default), split)
            self.scenes = [s for s in self.scenes if s.relative_to(self.root).as_posix() in wanted]

    def __len__(self):
        """Return the number of scenes (frames)."""
        return len(self.scenes)

    def first_file(self, scene, folder, pattern):
        """Return the first file matching ``pattern`` in scene/folder (layout error if none)."""
        files = sorted(require(scene / folder, f'{folder}/ folder').glob(pattern))
        if not files:
            raise DatasetLayoutError(f'{scene / folder}: missing {pattern} file')
        return files[0]

    def __getitem__(self, index):
        """Return scene ``index`` as an RgbdSample."""
        scene = self.scenes[index]
        rgb = read_colour(self.first_file(scene, 'image', '*.jpg'))
        depth = decode_depth(read_depth(self.first_file(scene, self.depth_folder, '*.png')))
        published = np.loadtxt(require(scene / 'intrinsics.txt', 'intrinsics file'))
        K = Intrinsics.from_matrix(published, pixel_origin=1).with_origin(0).matrix()
        extrinsics = sorted((scene / 'extrinsics').glob('*.txt'))
        gravity = gravity_from_extrinsics(np.loadtxt(extrinsics[-1])) if extrinsics else None
        seg = scene / 'seg.mat'
        labels = loadmat(seg)['seglabel'].astype(np.int64) if seg.is_file() else None
        return RgbdSample(rgb=rgb, depth=depth, K=K, labels=labels, gravity=gravity,
                          name=scene.relative_to(self.root).as_posix())
