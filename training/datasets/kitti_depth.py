"""
KITTI depth completion (Uhrig et al., 3DV 2017): sparse LiDAR to semi-dense depth, ~1242 x 375.

On-disk layout: ``root`` holds the depth archives (data_depth_velodyne + data_depth_annotated),
``raw_root`` the KITTI raw recordings (synced + rectified)::

    <root>/<split>/<drive>/proj_depth/velodyne_raw/image_0{2,3}/<frame>.png   sparse input
    <root>/<split>/<drive>/proj_depth/groundtruth/image_0{2,3}/<frame>.png    ground truth
    <raw_root>/<date>/<drive>/image_0{2,3}/data/<frame>.png                   colour
    <raw_root>/<date>/calib_cam_to_cam.txt                                    P_rect_02 / 03

<date> is the first 10 characters of <drive> (e.g. 2011_09_26).  Depth PNGs are uint16 with
depth = v / 256 m and 0 = missing (the devkit's convention).  Splits: 'train' and 'val'; the
frames are those of the groundtruth folders (the devkit pairs each with velodyne_raw).

K: the left 3 x 3 of P_rect_02 / P_rect_03 of the drive's date (rectified camera, 0-based
OpenCV convention).  Sample fields: rgb, depth = sparse velodyne_raw, depth_gt = groundtruth,
K; name = '<split>/<drive>/<camera>/<frame>'.
"""

import numpy as np
import torch

from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets.sample import read_colour, read_depth_png, RgbdSample

METRES_PER_UNIT = 1.0 / 256.0
CAMERAS = ('image_02', 'image_03')
SPLITS = ('train', 'val')


def read_rectified_intrinsics(calib_file, camera):
    """Return the (3, 3) K of P_rect_<nn> (``camera`` 'image_<nn>') in calib_cam_to_cam.txt."""
    key = 'P_rect_' + camera[-2:]
    for line in require(calib_file, 'calibration file').read_text().splitlines():
        name, _, values = line.partition(':')
        if name.strip() == key:
            return np.array(values.split(), dtype=np.float64).reshape(3, 4)[:, :3]
    raise DatasetLayoutError(f'{calib_file}: missing {key}')


class KittiDepthCompletion(torch.utils.data.Dataset):
    """KITTI depth completion frames as RgbdSamples (see the module docstring)."""

    def __init__(self, root, raw_root, split='train', cameras=CAMERAS):
        """Index the ground-truth frames of ``split`` ('train' or 'val') for ``cameras``."""
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        split_dir = require(require(root, 'KITTI depth folder') / split, f'{split} split folder')
        self.raw_root = require(raw_root, 'KITTI raw folder')
        self.split = split
        self.frames = [(drive, camera, png.stem)
                       for drive in sorted(p for p in split_dir.iterdir() if p.is_dir())
                       for camera in cameras
                       for png in sorted((drive / 'proj_depth' / 'groundtruth' / camera)
                                         .glob('*.png'))]
        if not self.frames:
            raise DatasetLayoutError(f'{split_dir}: missing <drive>/proj_depth/groundtruth/'
                                     f'image_0x/*.png')
        self.intrinsics = {(date, camera): read_rectified_intrinsics(
            self.raw_root / date / 'calib_cam_to_cam.txt', camera)
            for date, camera in {(d.name[:10], c) for d, c, _ in self.frames}}

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, index):
        """Return frame ``index`` as an RgbdSample."""
        drive, camera, frame = self.frames[index]
        projected = drive / 'proj_depth'
        return RgbdSample(
            rgb=read_colour(self.raw_root / drive.name[:10] / drive.name / camera / 'data'
                            / f'{frame}.png'),
            depth=read_depth_png(projected / 'velodyne_raw' / camera / f'{frame}.png',
                                 METRES_PER_UNIT),
            depth_gt=read_depth_png(projected / 'groundtruth' / camera / f'{frame}.png',
                                    METRES_PER_UNIT),
            K=self.intrinsics[drive.name[:10], camera].copy(),
            name=f'{self.split}/{drive.name}/{camera}/{frame}')
