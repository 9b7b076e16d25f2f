"""
Object crops of synthetic BOP scenes for pose training, and their near-view partners.

Every annotated object seen well enough (visible share and pixel count at least the config's)
becomes one crop: its visible box, jittered in size and place by a draw from its own seeded
generator (so the crops are the same in every run), cut as the pose stage cuts it
(rgbd_perception.geometry.crops).  Labels: the catalogue index of the object and its
allocentric rotation (rgbd_perception.models.pose).  Each crop's partner is another crop of
the same object whose rotation is the nearest (the near-pose pairs of Doumanoglou et al.
2016, the positives of Khan 2025); a dataset item is a crop and its partner, so every batch
mixes near pairs with the far poses of the other items.
"""

from pathlib import Path

import numpy as np
import roma
import torch
from torch.utils.data import Dataset

from rgbd_perception.geometry.crops import crop_mask, crop_relative_depth, crop_rgb, \
    square_window, window_ray
from rgbd_perception.geometry.pose import allocentric_rotation
from rgbd_perception.io.images import DatasetLayoutError
from training.datasets.bop import Bop


def _jittered_box(bbox, jitter, rng):
    """Return (x, y, w, h) with size scaled by 1 +- jitter and centre moved by +- jitter x size."""
    x, y, w, h = (float(v) for v in bbox)
    scale = 1.0 + rng.uniform(-jitter, jitter)
    cx, cy = x + w / 2 + rng.uniform(-jitter, jitter) * w, y + h / 2 + rng.uniform(-jitter,
                                                                                   jitter) * h
    w, h = w * scale, h * scale
    return cx - w / 2, cy - h / 2, w, h


def ground_truth(folder, object_ids, min_visible=0.3, min_pixels=200, limit=None):
    """
    Yield (rgb, depth m, intrinsics, [(obj_id, R, t m, bbox, mask)]) of a BOP folder's frames.

    folder: a split folder of BOP scene folders (e.g. the output of ``python -m training
    synth``); frames in scene and im_id order, the first ``limit`` only when given.  rgb (H, W,
    3) uint8, depth (H, W) float32 metres, intrinsics (fx, fy, cx, cy) pixels (0-based); per
    object: R (3, 3) model -> camera, t (3,) metres, bbox its visible (x, y, w, h) pixels, mask
    (H, W) bool visible pixels.  Objects not in object_ids or seen less than min_visible /
    min_pixels are left out.
    """
    folder = Path(folder)
    dataset = Bop(folder.parent, split=folder.name)
    for scene_id, im_id in dataset.images[:limit]:
        scene = dataset.scenes[scene_id]
        objects = [(truth.obj_id, truth.rotation, truth.translation, tuple(info['bbox_visib']),
                    mask) for truth, info, mask in scene.visible_objects(
                        im_id, min_visible, min_pixels, object_ids)]
        yield (scene.read_rgb(im_id), scene.read_depth_metres(im_id), scene.intrinsics(im_id),
               objects)


def object_crops(folders, object_ids, crop_size, context=1.2, min_visible=0.3, min_pixels=200,
                 jitter=0.1, seed=0, limit=None):
    """
    Return the crops of BOP folders as a dict of numpy arrays.

    object_ids: catalogue ids in head order (other objects are skipped).  Returns {'rgb':
    (N, S, S, 3) uint8, 'depth': (N, S, S) float16 relative depth, 'mask': (N, S, S) float16
    share of each crop pixel the object is visible in, 'index': (N,) int64
    catalogue index, 'rotation': (N, 3, 3) float32 allocentric, 'egocentric': (N, 3, 3),
    'translation': (N, 3) float32 m, 'frame': (N,) int64, 'folder': (N,) int64 index into
    folders}.  limit: most frames per folder.
    """
    head = {obj_id: index for index, obj_id in enumerate(object_ids)}
    columns = {key: [] for key in ('rgb', 'depth', 'mask', 'index', 'rotation', 'egocentric',
                                   'translation', 'frame', 'folder')}
    frame_number = 0
    for folder_index, folder in enumerate(folders):
        for rgb, depth, intrinsics, objects in ground_truth(folder, set(head), min_visible,
                                                            min_pixels, limit):
            rng = np.random.default_rng([seed, frame_number])
            for obj_id, rotation, translation, bbox, mask in objects:
                window = square_window(_jittered_box(bbox, jitter, rng), context)
                values = depth[mask & (depth > 0)]
                reference = float(np.median(values)) if values.size else 0.0
                ray = torch.from_numpy(window_ray(window, intrinsics))
                columns['rgb'].append(crop_rgb(rgb, window, crop_size))
                columns['depth'].append(crop_relative_depth(depth, window, crop_size,
                                                            reference).astype(np.float16))
                columns['mask'].append(crop_mask(mask, window, crop_size).astype(np.float16))
                columns['index'].append(head[obj_id])
                columns['egocentric'].append(rotation)
                columns['rotation'].append(allocentric_rotation(
                    torch.from_numpy(rotation), ray).numpy())
                columns['translation'].append(translation)
                columns['frame'].append(frame_number)
                columns['folder'].append(folder_index)
            frame_number += 1
    if not columns['rgb']:
        raise DatasetLayoutError(f'no object crops of the objects {object_ids} in '
                                 f'{[str(f) for f in folders]}')
    types = {'rgb': np.uint8, 'depth': np.float16, 'mask': np.float16, 'index': np.int64,
             'rotation': np.float32, 'egocentric': np.float32, 'translation': np.float32,
             'frame': np.int64, 'folder': np.int64}
    return {key: np.stack(values).astype(types[key]) for key, values in columns.items()}


def nearest_view_partners(indices, rotations):
    """
    Return (N,) partner of each crop: the same object's crop of the nearest rotation.

    indices: (N,) catalogue indices; rotations: (N, 3, 3).  A crop alone of its object is its
    own partner.  Returns (partners, geodesic angles in degrees).
    """
    partners = np.arange(len(indices))
    angles = np.zeros(len(indices))
    quaternions = roma.rotmat_to_unitquat(torch.from_numpy(rotations.astype(np.float64)))
    for value in np.unique(indices):
        members = np.flatnonzero(indices == value)
        if len(members) < 2:
            continue
        group = quaternions[members]
        cosines = (group @ group.T).abs().clamp(max=1.0)
        cosines.fill_diagonal_(-1.0)
        best = cosines.argmax(dim=1)
        partners[members] = members[best.numpy()]
        angles[members] = np.degrees(2 * np.arccos(cosines.max(dim=1).values.numpy()))
    return partners, angles


class PoseCrops(Dataset):
    """
    Crop pairs of an object_crops() dict: each crop with its near-view partner.

    Items {'crop', 'partner': (C, S, S) float32, 'mask', 'partner_mask': (S, S) float32
    visible share, 'index', 'partner_index': int64, 'rotation', 'partner_rotation': (3, 3)
    float32}.  input_mode: 'rgbd' (4 channels: RGB
    in [0, 1], relative depth) or 'rgb' (3).
    """

    def __init__(self, crops, input_mode):
        self.crops, self.input_mode = crops, input_mode
        self.partners, self.partner_degrees = nearest_view_partners(crops['index'],
                                                                    crops['rotation'])

    def __len__(self):
        return len(self.crops['index'])

    def tensor(self, index):
        """Return crop ``index`` as the (C, S, S) float32 network input."""
        rgb = torch.from_numpy(self.crops['rgb'][index]).permute(2, 0, 1).float() / 255.0
        if self.input_mode == 'rgb':
            return rgb
        depth = torch.from_numpy(self.crops['depth'][index].astype(np.float32))[None]
        return torch.cat([rgb, depth])

    def __getitem__(self, index):
        partner = int(self.partners[index])
        return {'crop': self.tensor(index), 'partner': self.tensor(partner),
                'mask': torch.from_numpy(self.crops['mask'][index].astype(np.float32)),
                'partner_mask': torch.from_numpy(self.crops['mask'][partner].astype(np.float32)),
                'index': torch.tensor(self.crops['index'][index]),
                'partner_index': torch.tensor(self.crops['index'][partner]),
                'rotation': torch.from_numpy(self.crops['rotation'][index]),
                'partner_rotation': torch.from_numpy(self.crops['rotation'][partner])}
