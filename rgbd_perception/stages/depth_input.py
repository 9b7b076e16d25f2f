"""Validate raw depth and colour arrays; convert depth to metres (shared by every stage)."""

import numpy as np

from rgbd_perception.errors import InputError


class DepthError(InputError):
    """Raised for depth content that cannot be processed (message says why)."""

    input_name = 'depth'


class ColourError(InputError):
    """Raised when a colour image is unusable or does not fit its depth image."""

    input_name = 'rgb'


def check_colour(rgb, depth_shape):
    """Return ``rgb`` as an (H, W, 3) uint8 array matching ``depth_shape`` or raise ColourError."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ColourError(f'colour must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}')
    if rgb.shape[:2] != tuple(depth_shape):
        raise ColourError(f'colour size {rgb.shape[1]}x{rgb.shape[0]} != depth size '
                          f'{depth_shape[1]}x{depth_shape[0]} (register depth to colour)')
    return rgb


class RawDepthError(DepthError):
    """Raised when the raw depth that supplies the missing-depth mask is unusable."""

    input_name = 'raw_depth'


def integer_depth_to_metres(depth, depth_scale):
    """
    Return integer depth in units of ``depth_scale`` metres as float64 metres.

    Where the scale is 1 / N for an integer N (mm: 1000, TUM: 5000, 0.1 mm: 10000) the
    values are divided by N, as MATLAB's ``double(D) / 1000`` does: the correctly rounded
    metres, which the HHA reference's rounding-decided fits depend on (a multiplication by
    0.001 differs in the last bit for many values). Other scales multiply.
    """
    per_metre = round(1.0 / float(depth_scale))
    if per_metre >= 1 and abs(per_metre * float(depth_scale) - 1.0) < 1e-12:
        return depth.astype(np.float64) / per_metre
    return depth.astype(np.float64) * float(depth_scale)


def depth_to_metres(depth, depth_scale=0.001, min_valid_fraction=0.0):
    """
    Return (H, W) float64 metres with 0 where there is no measurement.

    depth: (H, W) uint16 in units of ``depth_scale`` metres (0 = missing), or float32/64
    in metres (0 or NaN = missing). Infinite or negative values, a non-2-D array, or a
    frame whose valid fraction is 0 or below ``min_valid_fraction`` raise DepthError.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.size == 0:
        raise DepthError(f'depth must be a non-empty 2-D array, got shape {depth.shape}')
    if np.issubdtype(depth.dtype, np.integer):
        if np.issubdtype(depth.dtype, np.signedinteger) and (depth < 0).any():
            raise DepthError(f'depth has {int((depth < 0).sum())} negative values')
        metres = integer_depth_to_metres(depth, depth_scale)
    elif np.issubdtype(depth.dtype, np.floating):
        metres = depth.astype(np.float64)
        infinite = int(np.isinf(metres).sum())
        if infinite:
            raise DepthError(f'depth has {infinite} infinite values (use 0 or NaN for missing)')
        negative = int((metres < 0).sum())
        if negative:
            raise DepthError(f'depth has {negative} negative values')
        metres = np.nan_to_num(metres, nan=0.0)
    else:
        raise DepthError(f'unsupported depth dtype {depth.dtype}')
    require_valid_fraction(float(np.count_nonzero(metres)) / metres.size, min_valid_fraction)
    return metres


def require_valid_fraction(valid_fraction, min_valid_fraction=0.0):
    """Raise DepthError when a frame's share of valid depth pixels is 0 or below the minimum."""
    if valid_fraction == 0.0:
        raise DepthError('depth has no valid pixel (all zero or NaN)')
    if valid_fraction < min_valid_fraction:
        raise DepthError(f'only {100 * valid_fraction:.2f} % of the depth is valid '
                         f'(min_valid_fraction {min_valid_fraction})')
