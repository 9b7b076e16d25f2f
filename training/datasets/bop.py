"""
BOP benchmark scenes (Hodan et al.): LM, LM-O, YCB-V, T-LESS and the other BOP datasets.

On-disk layout (``root`` = one dataset, e.g. lmo/)::

    <split>/<scene_id:06d>/rgb/<im_id:06d>.png|jpg      colour (gray/ for grey datasets)
    <split>/<scene_id:06d>/depth/<im_id:06d>.png        uint16, depth_mm = v * depth_scale
    <split>/<scene_id:06d>/mask_visib/<im_id:06d>_<gt_idx:06d>.png   optional, visible part
    <split>/<scene_id:06d>/mask/<im_id:06d>_<gt_idx:06d>.png         optional, full silhouette
    <split>/<scene_id:06d>/scene_camera.json   {im_id: {cam_K: 9 row-major, depth_scale, ...}}
    <split>/<scene_id:06d>/scene_gt.json       optional, {im_id: [{cam_R_m2c: 9 row-major,
                                                cam_t_m2c: 3 mm, obj_id}, ...]}
    models/models_info.json                    {obj_id: {diameter: mm, min_x, size_x, ...}}

Splits: the split folder names of the dataset ('test', 'train_pbr', 'test_primesense', ...);
images are the keys of scene_camera.json, optionally restricted to the (scene_id, im_id) of a
targets file (e.g. test_targets_bop19.json).  K: cam_K per image (0-based OpenCV convention).

Sample fields: rgb (grey images repeated to 3 channels); depth metres; object_ids / poses (N, 4,
4) model->camera in metres (t / 1000) from scene_gt.json, in its order; masks (N, H, W) from
mask_visib/ when that folder exists, else mask/, else None; name = '<split>/<scene>/<im_id>'.
"""

import json
from pathlib import Path

import numpy as np
import torch

from training.datasets.sample import (DatasetLayoutError, read_colour, read_depth_png, read_mask,
                                      require, RgbdSample)


def read_json(path):
    """Return the parsed JSON file at ``path`` (a missing file is a layout error)."""
    return json.loads(require(path, 'BOP json file').read_text())


def load_bop_models_info(path):
    """Return {obj_id: info} of a BOP models_info.json (diameter, min_*, size_* in mm)."""
    return {int(k): v for k, v in read_json(path).items()}


def pose_matrix(annotation):
    """Return the (4, 4) float64 model->camera pose in metres of a scene_gt.json entry."""
    pose = np.eye(4)
    pose[:3, :3] = np.reshape(annotation['cam_R_m2c'], (3, 3))
    pose[:3, 3] = np.asarray(annotation['cam_t_m2c'], dtype=np.float64) / 1000.0
    return pose


def first_existing(paths):
    """Return the first of ``paths`` that exists, or raise DatasetLayoutError naming them."""
    for path in paths:
        if path.exists():
            return path
    raise DatasetLayoutError(f'missing image: none of {[str(p) for p in paths]}')


class Bop(torch.utils.data.Dataset):
    """Images of a BOP dataset split as RgbdSamples (see the module docstring)."""

    def __init__(self, root, split='test', targets=None):
        """Index every image of ``root/split``, or only those listed in the ``targets`` json."""
        self.split_dir = require(Path(root) / split, f'BOP split folder {split!r}')
        self.scenes = {}
        for scene in sorted(p for p in self.split_dir.iterdir() if p.name.isdigit()):
            gt_file = scene / 'scene_gt.json'
            self.scenes[int(scene.name)] = (scene, read_json(scene / 'scene_camera.json'),
                                            read_json(gt_file) if gt_file.is_file() else None)
        if not self.scenes:
            raise DatasetLayoutError(f'{self.split_dir}: missing <scene_id:06d>/ folders')
        if targets is None:
            self.images = [(s, i) for s, (_, camera, _) in self.scenes.items()
                           for i in sorted(map(int, camera))]
        else:
            self.images = sorted({(t['scene_id'], t['im_id']) for t in read_json(targets)})
            missing = {s for s, _ in self.images} - set(self.scenes)
            if missing:
                raise DatasetLayoutError(f'{self.split_dir}: missing scenes {sorted(missing)} '
                                         f'of {targets}')

    def __len__(self):
        """Return the number of images."""
        return len(self.images)

    @staticmethod
    def read_masks(scene, im_id, count, shape):
        """Return (count, H, W) bool masks of an image of ``shape`` (H, W), None if no folder."""
        folder = next((scene / f for f in ('mask_visib', 'mask') if (scene / f).is_dir()), None)
        if folder is None:
            return None
        masks = [read_mask(folder / f'{im_id:06d}_{k:06d}.png') for k in range(count)]
        return np.stack(masks) if masks else np.zeros((0, *shape), dtype=bool)

    def __getitem__(self, index):
        """Return image ``index`` as an RgbdSample."""
        scene_id, im_id = self.images[index]
        scene, cameras, gts = self.scenes[scene_id]
        camera = cameras[str(im_id)]
        rgb = read_colour(first_existing([scene / folder / f'{im_id:06d}.{suffix}'
                                          for folder in ('rgb', 'gray')
                                          for suffix in ('png', 'jpg')]))
        depth = read_depth_png(scene / 'depth' / f'{im_id:06d}.png',
                               camera.get('depth_scale', 1.0) / 1000.0)
        K = np.asarray(camera['cam_K'], dtype=np.float64).reshape(3, 3)
        sample = RgbdSample(rgb=rgb, depth=depth, K=K,
                            name=f'{self.split_dir.name}/{scene_id:06d}/{im_id:06d}')
        if gts is not None:
            annotations = gts[str(im_id)]
            sample.object_ids = np.array([a['obj_id'] for a in annotations], dtype=np.int64)
            sample.poses = np.array([pose_matrix(a) for a in annotations]).reshape(-1, 4, 4)
            sample.masks = self.read_masks(scene, im_id, len(annotations), depth.shape)
        return sample
