"""
Reading an RGB-D sequence from one BOP scene folder (e.g. ``python -m training sample``).

A scene folder holds ``rgb/{im_id:06d}.png``, ``depth/{im_id:06d}.png`` (uint16 in units of
depth_scale millimetres), ``scene_camera.json`` (per im_id: cam_K row-major, depth_scale) and
``gravity.json`` (per im_id: gravity, down, as a unit vector in the camera optical frame).
Frames come in im_id order.
"""

from dataclasses import dataclass
import json
from pathlib import Path

import numpy as np

from rgbd_perception.io.images import read_depth, read_rgb


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


def _existing(path):
    """Return path, or raise ValueError naming it when the file is missing."""
    if not path.is_file():
        raise ValueError(f'{path}: missing file of the BOP scene folder')
    return path


def _read_json(path):
    try:
        return json.loads(_existing(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f'{path}: not valid JSON ({error})') from error


def depth_units_to_mm(depth, depth_scale):
    """Return (H, W) uint16 millimetres of BOP depth units: round(value * depth_scale)."""
    millimetres = np.round(depth.astype(np.float64) * depth_scale)
    return np.clip(millimetres, 0, np.iinfo(np.uint16).max).astype(np.uint16)


def read_bop_sequence(folder):
    """
    Return the frames of a BOP scene folder: a list of :class:`SequenceFrame`, by im_id.

    Raises ValueError naming the file when one is missing or unreadable, or when a frame's
    colour and depth sizes differ.
    """
    folder = Path(folder)
    cameras = _read_json(folder / 'scene_camera.json')
    gravity_path = folder / 'gravity.json'
    gravity = _read_json(gravity_path)
    if not cameras:
        raise ValueError(f'{folder / "scene_camera.json"}: no frames')
    frames = []
    for key in sorted(cameras, key=int):
        if key not in gravity:
            raise ValueError(f'{gravity_path}: no entry for im_id {key}')
        name = f'{int(key):06d}.png'
        rgb = read_rgb(_existing(folder / 'rgb' / name))
        depth_path = _existing(folder / 'depth' / name)
        depth = read_depth(depth_path)
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f'{depth_path}: size {depth.shape} differs from the colour image '
                             f'{rgb.shape[:2]}')
        camera = cameras[key]
        k = np.reshape(camera['cam_K'], (3, 3))
        frames.append(SequenceFrame(
            index=int(key), rgb=rgb, depth_mm=depth_units_to_mm(depth, camera['depth_scale']),
            intrinsics=(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])),
            gravity=np.asarray(gravity[key], np.float64)))
    return frames
