"""Depth and colour image files: PNG/PGM uint16 depth, .npy float metres, RGB PNG/JPEG."""

from pathlib import Path

import cv2
import numpy as np

from rgbd_perception.errors import InputError


class FileFormatError(InputError):
    """Raised for a file that is missing or not an image of the expected kind."""


def read_depth(path):
    """
    Read a depth file without changing its units.

    PNG/PGM/TIFF: a single-channel 16-bit image, returned as (H, W) uint16 (apply the depth
    scale later). ``.npy``: a 2-D float array in metres, returned as (H, W) float32.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f'{path}: no such file')
    if path.suffix.lower() == '.npy':
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
            raise FileFormatError(f'{path}: .npy depth must be a 2-D float array in metres, '
                                  f'got {array.dtype} {array.shape}')
        return array.astype(np.float32, copy=False)
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise FileFormatError(f'{path}: not a readable image')
    if array.ndim != 2 or array.dtype != np.uint16:
        raise FileFormatError(f'{path}: depth images must be single-channel 16-bit, got '
                              f'{array.dtype} with shape {array.shape}')
    return array


def read_rgb(path):
    """Read a colour image as (H, W, 3) uint8 RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileFormatError(f'{path}: not a readable colour image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_rgb(path, rgb):
    """Write a (H, W, 3) uint8 RGB image (PNG keeps it lossless); creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise FileFormatError(f'{path}: could not write image')


def write_depth_png(path, depth_mm):
    """Write (H, W) uint16 depth as a 16-bit PNG; creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(depth_mm, dtype=np.uint16)):
        raise FileFormatError(f'{path}: could not write image')
