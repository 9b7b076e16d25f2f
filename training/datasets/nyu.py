"""
NYU Depth v2, labeled subset (1449 registered Kinect v1 frames, 640 x 480).

On-disk layout (``root``)::

    nyu_depth_v2_labeled.mat   MATLAB v7.3 (HDF5), read with h5py
    splits.mat                 optional, MATLAB v5: trainNdxs (795), testNdxs (654), 1-based

HDF5 stores MATLAB arrays with their axes reversed: ``images`` (N, 3, W, H) uint8,
``depths`` / ``rawDepths`` (N, W, H) float32 metres, ``labels`` (N, W, H) uint16 (894 class
ids, 0 = unlabeled), ``instances`` (N, W, H) uint8 (instance number within a class).

Splits: 'all' (every frame, file order), 'train' / 'test' (the official split of splits.mat).

Sample fields: rgb; depth = ``depths`` (in-painted, metres) or ``rawDepths`` with
``raw_depth=True`` (0 = missing); labels (H, W) class ids; masks / object_ids = one mask per
(class, instance) pair as the toolbox's ``get_instance_masks.m`` (only the pair (0, 0) is
dropped), ids = the class id of each; gravity None.  K: the colour camera of the toolbox's
``camera_params.m`` (1-based MATLAB numbers), converted to 0-based.
"""

from pathlib import Path

import h5py
import numpy as np
from scipy.io import loadmat
import torch

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets.sample import RgbdSample

MAT_FILE = 'nyu_depth_v2_labeled.mat'
SPLITS_FILE = 'splits.mat'
SPLIT_KEYS = {'train': 'trainNdxs', 'test': 'testNdxs'}
NYU_K = Intrinsics(5.1885790117450188e+02, 5.1946961112127485e+02, 3.2558244941119034e+02,
                   2.5373616633400465e+02, pixel_origin=1).with_origin(0).matrix()


def instance_masks(labels, instances):
    """Return (N, H, W) bool masks and (N,) int64 class ids of the (class, instance) pairs."""
    pairs = np.unique(np.stack([labels.ravel(), instances.ravel()], axis=1), axis=0)
    pairs = pairs[pairs.sum(axis=1) > 0].astype(np.int64)
    masks = ((labels[None] == pairs[:, 0, None, None])
             & (instances[None] == pairs[:, 1, None, None]))
    return masks, pairs[:, 0]


class NyuDepthV2(torch.utils.data.Dataset):
    """NYU Depth v2 labeled frames as RgbdSamples (see the module docstring)."""

    def __init__(self, root, split='all', raw_depth=False):
        """Index ``root``/nyu_depth_v2_labeled.mat; split is 'all', 'train' or 'test'."""
        self.path = require(Path(root) / MAT_FILE, 'NYU Depth v2 labeled .mat file')
        self.depth_key = 'rawDepths' if raw_depth else 'depths'
        with h5py.File(self.path, 'r') as mat:
            for key in ('images', self.depth_key, 'labels'):
                if key not in mat:
                    raise DatasetLayoutError(f'{self.path}: missing dataset {key!r}')
            count = mat['images'].shape[0]
            self.has_instances = 'instances' in mat
        if split == 'all':
            self.indices = np.arange(count)
        elif split in SPLIT_KEYS:
            splits = loadmat(require(Path(root) / SPLITS_FILE, 'official split file'))
            self.indices = splits[SPLIT_KEYS[split]].ravel().astype(np.int64) - 1
        else:
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")

    def __len__(self):
        """Return the number of frames of the split."""
        return len(self.indices)

    def __getitem__(self, index):
        """Return frame ``index`` of the split as an RgbdSample."""
        frame = int(self.indices[index])
        with h5py.File(self.path, 'r') as mat:
            rgb = np.ascontiguousarray(mat['images'][frame].transpose(2, 1, 0))
            depth = np.ascontiguousarray(mat[self.depth_key][frame].T, dtype=np.float32)
            labels = mat['labels'][frame].T.astype(np.int64)
            instances = mat['instances'][frame].T if self.has_instances else None
        masks, ids = (None, None) if instances is None else instance_masks(labels, instances)
        return RgbdSample(rgb=rgb, depth=depth, K=NYU_K.copy(), labels=labels, masks=masks,
                          object_ids=ids, name=f'nyu/{frame + 1:04d}')
