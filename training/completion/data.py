"""
Frames for depth completion: synthetic BOP folders, real dataset readers and the real samples.

Synthetic folders are written by ``python -m training synth``: depth/ holds the sensor model's
depth (holes, noise), depth_clean/ the exact depth used as the target.  Real datasets come
through the readers of training.datasets (DATASETS); their target is the dense ground truth
where the dataset has one (KITTI, VOID, NYU filled), else the sensor depth itself, so that
removed measurements are scored against what was measured.
"""

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from rgbd_perception.geometry.depth_pooling import masked_mean_pool
from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets import DATASETS
from training.datasets.bop import Bop
from training.datasets.sun_rgbd import decode_depth as decode_sun_depth

NYU_NO_RETURN = 2047  # raw Kinect disparity of a missing measurement


def read_synthetic_frame(folder, index):
    """
    Return (rgb (H, W, 3) uint8, sensor depth, exact depth (H, W) float32 m) of a synth frame.

    folder: the output folder of ``synth`` (scene folders 000000/ ... inside); index counts
    frames over its scenes in order.
    """
    folder = Path(folder)
    dataset = Bop(folder.parent, split=folder.name)
    return _synthetic_frame(dataset, index)


def _synthetic_frame(dataset, index):
    scene_id, im_id = dataset.images[index]
    scene = dataset.scenes[scene_id]
    return (scene.read_rgb(im_id), scene.read_depth_metres(im_id),
            scene.read_depth_metres(im_id, 'depth_clean'))


def synthetic_frames(folder, limit=None):
    """Yield (name, rgb, sensor depth, exact depth) of the first ``limit`` frames of a folder."""
    folder = require(folder, 'synthetic data folder (python -m training synth --out ...)')
    dataset = Bop(folder.parent, split=folder.name)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(count):
        yield (f'{folder.name}/{index:06d}', *_synthetic_frame(dataset, index))


def centre_crop(height, width, size):
    """Return (rows, cols) slices of the centre crop of an (H, W) image with size's aspect."""
    rows, cols = size
    crop_h = min(height, round(width * rows / cols))
    crop_w = min(width, round(height * cols / rows))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return slice(top, top + crop_h), slice(left, left + crop_w)


def fit_to_size(rgb, depth, clean, size):
    """
    Return rgb, depth, clean centre-cropped to the aspect of ``size`` and resized to it.

    rgb (H, W, 3) uint8; depth, clean (H, W) float32 metres, 0 = missing; size (rows, cols).
    Colour is area-averaged; depth is averaged over the valid pixels under each output pixel
    (a pixel with none stays 0), so holes never pull depth towards 0.  Returns
    ((rows, cols, 3) uint8, (1, rows, cols) float32 tensor, same).
    """
    rows, cols = size
    window = centre_crop(*depth.shape, size)
    rgb = cv2.resize(rgb[window], (cols, rows), interpolation=cv2.INTER_AREA)
    pooled = []
    for metres in (depth, clean):
        metres = np.ascontiguousarray(metres[window], dtype=np.float32)
        valid = (metres > 0).astype(np.float32)
        total = cv2.resize(metres * valid, (cols, rows), interpolation=cv2.INTER_AREA)
        count = cv2.resize(valid, (cols, rows), interpolation=cv2.INTER_AREA)
        pooled.append(torch.from_numpy(np.where(count > 1e-6, total / np.maximum(count, 1e-6),
                                                0.0).astype(np.float32))[None])
    return rgb, pooled[0], pooled[1]


class RealCompletionFrames(Dataset):
    """
    Frames of a real dataset reader at a fixed working size, read on demand.

    dataset: a key of training.datasets.DATASETS; root: its folder; args: reader keyword
    arguments (e.g. split); size: (rows, cols) working size.  Items as
    SyntheticCompletionFrames; 'clean' is the reader's depth_gt or, without one, its depth.
    """

    def __init__(self, dataset, root, size, args=None):
        if dataset not in DATASETS:
            raise DatasetLayoutError(f'unknown dataset {dataset!r}, known: {sorted(DATASETS)}')
        self.reader = DATASETS[dataset](root, **(args or {}))
        self.size = tuple(size)

    def __len__(self):
        return len(self.reader)

    def __getitem__(self, index):
        return self.item(self.reader[index])

    def item(self, sample):
        """Return the item of one of the reader's RgbdSamples (see the class docstring)."""
        clean = sample.depth if sample.depth_gt is None else sample.depth_gt
        rgb, depth, clean = fit_to_size(sample.rgb, sample.depth, clean, self.size)
        return {'rgb': torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0, 'depth': depth,
                'clean': clean}


class SyntheticCompletionFrames(Dataset):
    """
    Synthetic frames in memory at 1/downsample size, as the model sees them at run time.

    Items: {'rgb': (3, h, w) float32 in [0, 1], 'depth': (1, h, w) sensor depth, 'clean':
    (1, h, w) exact depth, float32 metres, 0 = missing}; colour area-averaged, depth averaged
    over the valid pixels of each block (rgbd_perception.geometry.depth_pooling).
    sources: (N,) int64 index into folders of each frame.
    """

    def __init__(self, folders, downsample=2):
        rgb, depth, clean, sources = [], [], [], []
        for folder_index, folder in enumerate(folders):
            for _, frame_rgb, frame_depth, frame_clean in synthetic_frames(folder):
                sources.append(folder_index)
                height, width = frame_depth.shape
                size = (-(-width // downsample), -(-height // downsample))
                rgb.append(cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA))
                pair = torch.from_numpy(np.stack([frame_depth, frame_clean]))[:, None]
                pooled = masked_mean_pool(pair, downsample)
                depth.append(pooled[0])
                clean.append(pooled[1])
        if not rgb:
            raise DatasetLayoutError(f'no frames in {list(map(str, folders))}')
        self.rgb = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).contiguous()
        self.depth, self.clean = torch.stack(depth), torch.stack(clean)
        self.sources = np.array(sources, np.int64)

    def __len__(self):
        return len(self.rgb)

    def __getitem__(self, index):
        return {'rgb': self.rgb[index].float() / 255.0, 'depth': self.depth[index],
                'clean': self.clean[index]}


def _read_nyu_raw_depth(path):
    """Return NYU raw Kinect depth (PGM, little-endian payload) as float32 metres."""
    raw = cv2.imread(str(require(path, 'NYU raw depth')), cv2.IMREAD_UNCHANGED).byteswap()
    metres = 351.3 / (1092.5 - raw.astype(np.float32))
    metres[(raw >= NYU_NO_RETURN) | (metres <= 0)] = 0.0
    return metres


def real_sample_frames(root):
    """
    Return [(name, rgb (H, W, 3) uint8, depth (H, W) float32 m)] of ../shared/data/rgbd_samples.

    TUM (uint16 / 5000), SUN RGB-D (bit-rotated millimetres) and NYU v2 raw (Kinect
    disparity; its depth is NOT registered to the colour image, a few pixels off).
    """
    root = require(root, 'real RGB-D sample folder')
    decoders = [
        ('tum', 'tum/TUM_color.png', 'tum/TUM_depth.png',
         lambda path: cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 5000),
        ('sun', 'sun/SUN_color.jpg', 'sun/SUN_depth.png',
         lambda path: decode_sun_depth(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))),
        ('nyu_raw', 'nyu_raw/NYU_color.ppm', 'nyu_raw/NYU_depth.pgm', _read_nyu_raw_depth),
    ]
    frames = []
    for name, colour, depth, decode in decoders:
        rgb = cv2.cvtColor(cv2.imread(str(require(root / colour, 'colour image'))),
                           cv2.COLOR_BGR2RGB)
        frames.append((name, rgb, decode(require(root / depth, 'depth image'))))
    return frames


def slambook_kinect_frames(root):
    """
    Return [(name, rgb (H, W, 3) uint8, depth (H, W) float32 m)] of rgbd_samples/slambook_kinect.

    Five Kinect v1 frames of one indoor scene (color/N.png, depth/N.pgm in millimetres, 0 =
    missing, registered to colour); [] when the folder is absent.
    """
    folder = Path(root) / 'slambook_kinect'
    frames = []
    for colour in sorted((folder / 'color').glob('*.png')) if folder.is_dir() else []:
        depth = cv2.imread(str(require(folder / 'depth' / f'{colour.stem}.pgm', 'depth image')),
                           cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
        rgb = cv2.cvtColor(cv2.imread(str(colour)), cv2.COLOR_BGR2RGB)
        frames.append((f'slambook_kinect_{colour.stem}', rgb, depth))
    return frames


def real_sample_groups(root):
    """
    Return {sensor: [(name, rgb, depth), ...]} of the real samples, scored per sensor.

    The TUM, SUN and NYU frames of real_sample_frames, one each, and the five frames of
    slambook_kinect_frames as one group 'slambook_kinect' (when present).
    """
    groups = {name: [(name, rgb, depth)] for name, rgb, depth in real_sample_frames(root)}
    slambook = slambook_kinect_frames(root)
    if slambook:
        groups['slambook_kinect'] = slambook
    return groups
