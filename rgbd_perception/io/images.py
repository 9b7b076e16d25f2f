"""
Depth, colour and mask image files, and the one metres <-> 16-bit millimetres conversion.

Depth files: PNG/PGM/TIFF single-channel uint16 (units of a depth scale, 0 = missing) or .npy
float metres.  16-bit depth in the package follows REP 118: uint16 millimetres, 0 = missing;
:func:`to_depth_mm` and :func:`to_depth_metres` are the conversions between it and metres.
"""

from pathlib import Path

import cv2
import numpy as np

from rgbd_perception.errors import InputError


class FileFormatError(InputError):
    """Raised for a file that is missing or not an image of the expected kind."""


class DatasetLayoutError(FileFormatError):
    """Raised when a dataset folder lacks a file or folder of its official layout."""


#: The largest depth a REP 118 image holds: 65535 mm = 65.535 m.
MAX_DEPTH_MM = np.iinfo(np.uint16).max


def require(path, what='file'):
    """Return ``path`` as a Path, or raise DatasetLayoutError naming it when it does not exist."""
    path = Path(path)
    if not path.exists():
        raise DatasetLayoutError(f'{path}: missing {what}')
    return path


def to_depth_mm(depth, mm_per_unit=1000.0):
    """
    Return REP 118 depth, (H, W) uint16 millimetres with 0 = missing, of (H, W) depth.

    depth: any real array in units of ``mm_per_unit`` millimetres (default 1000: metres; a
    BOP depth PNG's values: its depth_scale).  Rounding: to the nearest millimetre, halves to
    even (numpy.round), of the product formed in the input's precision (float32 stays
    float32, as NumPy computes it; integers in float64).  Values a uint16 cannot hold become
    0 (missing): below 0.5 mm, above 65535 mm (65.535 m), NaN and infinities; nothing is
    clipped to the range, so a far surface is never reported at a false distance.  (The BOP
    writer applies the same rule to metres with mm_per_unit = 1000 / depth_scale: units of
    depth_scale mm.)
    """
    depth = np.asarray(depth)
    if not np.issubdtype(depth.dtype, np.floating):
        depth = depth.astype(np.float64)
    millimetres = np.round(depth * mm_per_unit)
    valid = (millimetres > 0) & (millimetres <= MAX_DEPTH_MM)  # False for NaN
    return np.where(valid, millimetres, 0).astype(np.uint16)


def to_depth_metres(depth, metres_per_unit=0.001):
    """
    Return (H, W) float32 metres of 16-bit depth: value * metres_per_unit, 0 = missing stays 0.

    depth: (H, W) integer array in units of ``metres_per_unit`` metres (default 0.001: REP 118
    millimetres).  The product is formed in float64 and rounded once to float32.
    """
    return (np.asarray(depth, dtype=np.float64) * metres_per_unit).astype(np.float32)


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


def read_mask(path):
    """Read an 8-bit mask image as (H, W) bool (value > 0); a missing file is a layout error."""
    mask = cv2.imread(str(require(path, 'mask image')), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileFormatError(f'{path}: not a readable mask image')
    return mask > 0


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
