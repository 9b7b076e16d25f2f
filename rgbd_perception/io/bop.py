"""
Reading BOP scene folders (the BOP benchmark format of Hodan et al.): the package's one reader.

A scene folder is one ``<split>/<scene_id:06d>/`` of a BOP dataset, or one written by
``python -m training synth`` / ``python -m training sample``::

    rgb/{im_id:06d}.png|jpg          colour (gray/ in grey datasets)
    depth/{im_id:06d}.png            uint16 in units of depth_scale mm, 0 = missing
    depth_clean/{im_id:06d}.png      noise-free depth, same units (synthetic folders only)
    mask/{im_id:06d}_{gt_index:06d}.png         full silhouette of annotation gt_index
    mask_visib/{im_id:06d}_{gt_index:06d}.png   its visible part
    scene_camera.json     {im_id: {cam_K: 9 row-major, depth_scale: mm per unit, ...}}
    scene_gt.json         {im_id: [{cam_R_m2c: 9 row-major, cam_t_m2c: 3 mm, obj_id}, ...]}
    scene_gt_info.json    {im_id: [{bbox_visib: [x, y, w, h] px, px_count_visib, visib_fract,
                                    ...}, ...]}, in the order of scene_gt.json
    gravity.json          {im_id: [gx, gy, gz]} (our synthetic folders only): gravity (down),
                          a unit vector in the camera optical frame

Pixel convention: cam_K and the boxes are OpenCV's, 0-based: the centre of the top-left pixel is
(0, 0), so cx, cy and a box's x, y count from 0.  Poses map model to camera (optical frame: x
right, y down, z forward); :class:`GroundTruth` gives them in metres.  Keys of the JSON files
are im_id strings; here im_ids are ints.  A missing file raises DatasetLayoutError naming it.
"""

from dataclasses import dataclass
from functools import cached_property
import json
from pathlib import Path

import numpy as np

from rgbd_perception.io.images import (DatasetLayoutError, FileFormatError, read_depth, read_mask,
                                       read_rgb, require, to_depth_metres, to_depth_mm)

SCENE_CAMERA, SCENE_GT, SCENE_GT_INFO = 'scene_camera.json', 'scene_gt.json', 'scene_gt_info.json'


def read_json(path):
    """Return a parsed JSON file; DatasetLayoutError when missing, FileFormatError if invalid."""
    path = require(path, 'BOP json file')
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FileFormatError(f'{path}: not valid JSON ({error})') from error


def read_models_info(path):
    """Return {obj_id: info} of a BOP models_info.json (diameter, min_*, size_* in mm)."""
    return {int(k): v for k, v in read_json(path).items()}


def intrinsics_from_cam_k(cam_k):
    """
    Return (fx, fy, cx, cy) float pixels of a BOP cam_K (9 values, row-major 3 x 3).

    cx, cy stay in BOP's (OpenCV's) 0-based convention: the top-left pixel's centre is (0, 0).
    """
    k = np.reshape(np.asarray(cam_k, dtype=np.float64), (3, 3))
    return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """
    One annotated object of an image: entry ``gt_index`` of its scene_gt.json list.

    rotation: (3, 3) float64 model -> camera; translation: (3,) float64 metres, the model
    origin in the camera optical frame (cam_t_m2c / 1000).
    """

    gt_index: int
    obj_id: int
    rotation: np.ndarray
    translation: np.ndarray

    @property
    def pose(self):
        """Return the (4, 4) float64 model -> camera transform in metres."""
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = self.rotation, self.translation
        return pose


class BopScene:
    """
    One BOP scene folder (see the module docstring); the JSON files are read once, when used.

    scene_camera.json is read on construction, so a folder without it is refused at once.
    """

    def __init__(self, folder):
        """Open ``folder``; raises DatasetLayoutError when it has no scene_camera.json."""
        self.folder = Path(folder)
        self.cameras = {int(k): v for k, v in read_json(self.folder / SCENE_CAMERA).items()}

    @property
    def image_ids(self):
        """Return the im_ids of scene_camera.json in increasing order."""
        return sorted(self.cameras)

    @property
    def has_ground_truth(self):
        """Return whether the folder holds scene_gt.json (test splits may not)."""
        return (self.folder / SCENE_GT).is_file()

    @cached_property
    def _ground_truth(self):
        return {int(k): v for k, v in read_json(self.folder / SCENE_GT).items()}

    @cached_property
    def _gt_info(self):
        return {int(k): v for k, v in read_json(self.folder / SCENE_GT_INFO).items()}

    def camera_matrix(self, im_id):
        """Return the (3, 3) float64 cam_K of an image (pixels, 0-based principal point)."""
        return np.reshape(np.asarray(self.cameras[im_id]['cam_K'], dtype=np.float64), (3, 3))

    def intrinsics(self, im_id):
        """Return (fx, fy, cx, cy) pixels of an image's cam_K (0-based, OpenCV)."""
        return intrinsics_from_cam_k(self.cameras[im_id]['cam_K'])

    def depth_scale(self, im_id):
        """Return the millimetres per depth PNG unit of an image (1.0 when not given)."""
        return float(self.cameras[im_id].get('depth_scale', 1.0))

    def ground_truth(self, im_id):
        """Return the [GroundTruth] of an image, in scene_gt.json order."""
        return [GroundTruth(index, int(entry['obj_id']),
                            np.reshape(np.asarray(entry['cam_R_m2c'], np.float64), (3, 3)),
                            np.asarray(entry['cam_t_m2c'], np.float64) / 1000.0)
                for index, entry in enumerate(self._ground_truth[im_id])]

    def gt_info(self, im_id):
        """Return the scene_gt_info.json dicts of an image (bbox_visib, visib_fract, ...)."""
        return self._gt_info[im_id]

    def rgb_path(self, im_id):
        """Return the colour file of an image: rgb/ or gray/, .png or .jpg, the first there."""
        candidates = [self.folder / folder / f'{im_id:06d}.{suffix}'
                      for folder in ('rgb', 'gray') for suffix in ('png', 'jpg')]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            raise DatasetLayoutError(f'missing image: none of {[str(p) for p in candidates]}')
        return found

    def depth_path(self, im_id, kind='depth'):
        """Return the depth PNG of an image in folder ``kind`` ('depth' or 'depth_clean')."""
        return self.folder / kind / f'{im_id:06d}.png'

    def mask_folder(self):
        """Return the masks' folder: mask_visib/ when there is one, else mask/, else None."""
        return next((self.folder / name for name in ('mask_visib', 'mask')
                     if (self.folder / name).is_dir()), None)

    def read_rgb(self, im_id):
        """Return an image's colour as (H, W, 3) uint8 RGB (grey repeated to 3 channels)."""
        return read_rgb(self.rgb_path(im_id))

    def _depth_units(self, im_id, kind):
        return read_depth(require(self.depth_path(im_id, kind), 'depth image'))

    def read_depth_mm(self, im_id, kind='depth'):
        """Return an image's depth as REP 118 (H, W) uint16 mm: round(value * depth_scale)."""
        return to_depth_mm(self._depth_units(im_id, kind), self.depth_scale(im_id))

    def read_depth_metres(self, im_id, kind='depth'):
        """Return an image's depth as (H, W) float32 metres: value * depth_scale / 1000."""
        return to_depth_metres(self._depth_units(im_id, kind), self.depth_scale(im_id) / 1000.0)

    def read_mask(self, im_id, gt_index):
        """Return annotation gt_index's (H, W) bool mask, from :meth:`mask_folder`."""
        folder = self.mask_folder() or self.folder / 'mask_visib'
        return read_mask(folder / f'{im_id:06d}_{gt_index:06d}.png')

    def visible_objects(self, im_id, min_visible=0.0, min_pixels=0, object_ids=None):
        """
        Return [(GroundTruth, gt_info dict, (H, W) bool mask)] of the objects seen well enough.

        Kept: visib_fract >= min_visible, px_count_visib >= min_pixels and, when object_ids
        is given, obj_id in object_ids; in scene_gt.json order.  Only their masks are read.
        """
        return [(truth, info, self.read_mask(im_id, truth.gt_index))
                for truth, info in zip(self.ground_truth(im_id), self.gt_info(im_id))
                if info['visib_fract'] >= min_visible and info['px_count_visib'] >= min_pixels
                and (object_ids is None or truth.obj_id in object_ids)]


@dataclass(frozen=True, eq=False)
class SequenceFrame:
    """
    One frame of a BOP sequence (H x W pixels, camera optical frame).

    index: the BOP im_id; rgb: (H, W, 3) uint8 RGB; depth_mm: (H, W) uint16 millimetres,
    0 = missing; intrinsics: (fx, fy, cx, cy) pixels of cam_K (0-based principal point);
    gravity: (3,) float64 unit vector, gravity (down) in the optical frame.
    """

    index: int
    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: tuple
    gravity: np.ndarray


def read_bop_sequence(folder):
    """
    Return the frames of a BOP scene folder with gravity.json: [SequenceFrame], by im_id.

    E.g. the sample of ``python -m training sample``.  Raises ValueError (DatasetLayoutError)
    naming the file when one is missing or unreadable, or when a frame's colour and depth
    sizes differ.
    """
    scene = BopScene(folder)
    gravity_path = scene.folder / 'gravity.json'
    gravity = read_json(gravity_path)
    if not scene.cameras:
        raise DatasetLayoutError(f'{scene.folder / SCENE_CAMERA}: no frames')
    frames = []
    for im_id in scene.image_ids:
        if str(im_id) not in gravity:
            raise DatasetLayoutError(f'{gravity_path}: no entry for im_id {im_id}')
        rgb, depth = scene.read_rgb(im_id), scene.read_depth_mm(im_id)
        if depth.shape != rgb.shape[:2]:
            raise DatasetLayoutError(f'{scene.depth_path(im_id)}: size {depth.shape} differs '
                                     f'from the colour image {rgb.shape[:2]}')
        frames.append(SequenceFrame(index=im_id, rgb=rgb, depth_mm=depth,
                                    intrinsics=scene.intrinsics(im_id),
                                    gravity=np.asarray(gravity[str(im_id)], np.float64)))
    return frames
