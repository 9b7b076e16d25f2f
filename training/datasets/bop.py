"""
BOP benchmark scenes (Hodan et al.): LM, LM-O, YCB-V, T-LESS and the other BOP datasets.

On-disk layout (``root`` = one dataset, e.g. lmo/)::

    <split>/<scene_id:06d>/      one BOP scene folder (rgbd_perception.io.bop describes it)
    models/models_info.json      {obj_id: {diameter: mm, min_x, size_x, ...}}

Splits: the split folder names of the dataset ('test', 'train_pbr', 'test_primesense', ...);
images are the keys of scene_camera.json, optionally restricted to the (scene_id, im_id) of a
targets file (e.g. test_targets_bop19.json).  K: cam_K per image (0-based OpenCV convention).
Every file is read through :class:`rgbd_perception.io.bop.BopScene`.

Sample fields: rgb (grey images repeated to 3 channels); depth metres; object_ids / poses (N, 4,
4) model->camera in metres (t / 1000) from scene_gt.json, in its order; masks (N, H, W) from
mask_visib/ when that folder exists, else mask/, else None; name = '<split>/<scene>/<im_id>'.
"""

from pathlib import Path

import numpy as np
import torch

from rgbd_perception.io.bop import BopScene, read_json
from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets.sample import RgbdSample


class Bop(torch.utils.data.Dataset):
    """Images of a BOP dataset split as RgbdSamples (see the module docstring)."""

    def __init__(self, root, split='test', targets=None):
        """Index every image of ``root/split``, or only those listed in the ``targets`` json."""
        self.split_dir = require(Path(root) / split, f'BOP split folder {split!r}')
        self.scenes = {int(p.name): BopScene(p) for p in sorted(self.split_dir.iterdir())
                       if p.name.isdigit()}
        if not self.scenes:
            raise DatasetLayoutError(f'{self.split_dir}: missing <scene_id:06d>/ folders')
        if targets is None:
            self.images = [(s, i) for s, scene in self.scenes.items() for i in scene.image_ids]
        else:
            self.images = sorted({(t['scene_id'], t['im_id']) for t in read_json(targets)})
            missing = {s for s, _ in self.images} - set(self.scenes)
            if missing:
                raise DatasetLayoutError(f'{self.split_dir}: missing scenes {sorted(missing)} '
                                         f'of {targets}')

    def __len__(self):
        """Return the number of images."""
        return len(self.images)

    def __getitem__(self, index):
        """Return image ``index`` as an RgbdSample."""
        scene_id, im_id = self.images[index]
        scene = self.scenes[scene_id]
        depth = scene.read_depth_metres(im_id)
        sample = RgbdSample(rgb=scene.read_rgb(im_id), depth=depth,
                            K=scene.camera_matrix(im_id),
                            name=f'{self.split_dir.name}/{scene_id:06d}/{im_id:06d}')
        if scene.has_ground_truth:
            truths = scene.ground_truth(im_id)
            sample.object_ids = np.array([t.obj_id for t in truths], dtype=np.int64)
            sample.poses = np.array([t.pose for t in truths]).reshape(-1, 4, 4)
            if scene.mask_folder() is not None:
                sample.masks = np.stack([scene.read_mask(im_id, t.gt_index) for t in truths]) \
                    if truths else np.zeros((0, *depth.shape), dtype=bool)
        return sample
