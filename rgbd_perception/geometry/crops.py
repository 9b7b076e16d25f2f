"""
Object-centred square crops (Khan 2025: centred on the detection, no resizing distortion).

A crop window is the square of side ``context`` x the box's longer side centred on the box;
it is resampled to S x S pixels by one isotropic scale (so shapes keep their aspect), with
zeros outside the image.  The depth channel is relative: (z - z_ref) / DEPTH_UNIT_M clipped to
+-DEPTH_CLIP, z_ref the median depth of the object's pixels, 0 where depth is missing.
"""

import cv2
import numpy as np

from rgbd_perception.geometry.camera import pixel_rays

DEPTH_UNIT_M = 0.1
DEPTH_CLIP = 3.0


def square_window(bbox, context=1.2):
    """
    Return (centre u, centre v, side) of the crop window of an (x, y, w, h) pixel box.

    The box covers pixel columns x .. x + w - 1; the centre is in 0-based pixel-centre
    coordinates (as camera_info's cx, cy), the side in pixels.
    """
    x, y, w, h = (float(v) for v in bbox)
    return x + (w - 1.0) / 2.0, y + (h - 1.0) / 2.0, context * max(w, h, 1.0)


def window_ray(window, intrinsics):
    """Return the (3,) unit ray through a window's centre (intrinsics: see as_intrinsics)."""
    ray = np.array([*pixel_rays(intrinsics, window[0], window[1]), 1.0])
    return ray / np.linalg.norm(ray)


def _affine(window, size):
    """Return the 2 x 3 map of image pixel centres onto crop pixel centres."""
    u, v, side = window
    scale, middle = size / side, (size - 1) / 2.0
    return np.array([[scale, 0.0, middle - scale * u], [0.0, scale, middle - scale * v]])


def crop_rgb(rgb, window, size):
    """Return the (size, size, 3) uint8 crop of (H, W, 3) uint8 colour (area-like sampling)."""
    side = window[2]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.warpAffine(rgb, _affine(window, size), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_mask(mask, window, size):
    """
    Return the (size, size) float32 share of each crop pixel covered by an (H, W) bool mask.

    Sampled as crop_rgb samples colour, so the mask lines up with the crop's pixels.
    """
    return crop_rgb(mask.astype(np.float32), window, size)


def paste_crop(values, window, shape):
    """
    Return an (H, W) float32 image of (S, S) crop values resampled at every image pixel.

    The inverse of the crop window's map (bilinear); pixels outside the window are 0.
    shape: (H, W) of the image the window was cut from.
    """
    size = values.shape[0]
    return cv2.warpAffine(values.astype(np.float32), _affine(window, size), (shape[1], shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_relative_depth(depth, window, size, reference):
    """
    Return the (size, size) float32 relative depth crop of (H, W) metres (see module).

    reference: z_ref in metres.  Nearest-neighbour sampling keeps missing pixels missing.
    """
    sampled = cv2.warpAffine(depth.astype(np.float32), _affine(window, size), (size, size),
                             flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    relative = np.clip((sampled - reference) / DEPTH_UNIT_M, -DEPTH_CLIP, DEPTH_CLIP)
    return np.where(sampled > 0, relative, 0.0).astype(np.float32)


def crop_tensor_input(rgb, depth, window, size, reference, channels=None):
    """
    Return the (C, size, size) float32 network input: RGB in [0, 1] (+ relative depth).

    channels: 4 (RGB + relative depth; depth None gives an all-missing depth channel) or 3
    (RGB only); None: 4 with depth, 3 without.
    """
    channels = (3 if depth is None else 4) if channels is None else channels
    planes = [crop_rgb(rgb, window, size).astype(np.float32).transpose(2, 0, 1) / 255.0]
    if channels == 4:
        planes.append(np.zeros((1, size, size), np.float32) if depth is None else
                      crop_relative_depth(depth, window, size, reference)[None])
    return np.concatenate(planes, axis=0)
