"""Validate sensor_msgs/CameraInfo and turn it into pinhole intrinsics."""

import math

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.camera import Intrinsics


class CameraInfoError(InputError):
    """Raised for a CameraInfo that does not describe the image it comes with."""


def intrinsics_from_camera_info(msg, image_shape):
    """
    Return the 0-based :class:`Intrinsics` of ``msg`` after checking it against the image.

    K of a camera_info is in OpenCV's convention: pixel centres at 0-based coordinates.
    image_shape: (H, W, ...) of the image the camera_info belongs to. Raises
    CameraInfoError when the size differs from the image's, K is not 9 finite numbers,
    or fx, fy are not > 0.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if (msg.height, msg.width) != (height, width):
        raise CameraInfoError(
            f'camera_info size {msg.width}x{msg.height} != image size {width}x{height}')
    k = [float(v) for v in msg.k]
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        raise CameraInfoError(f'camera_info K must be 9 finite numbers, got {k}')
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if fx <= 0 or fy <= 0:
        raise CameraInfoError(f'camera_info K has fx={fx}, fy={fy}; both must be > 0')
    return Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, pixel_origin=0)
