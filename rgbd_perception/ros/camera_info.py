"""sensor_msgs/CameraInfo and pinhole intrinsics: validate one into Intrinsics, or build one."""

import math

from sensor_msgs.msg import CameraInfo

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.camera import as_intrinsics, Intrinsics


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


def camera_info_message(intrinsics, width, height, header=None):
    """
    Return the CameraInfo of an undistorted pinhole camera (plumb_bob, D all zeros).

    intrinsics: Intrinsics (either pixel origin) or what as_intrinsics takes (numbers are
    0-based); K is written 0-based.  width, height: the image size; header: optional
    std_msgs/Header.
    """
    camera = as_intrinsics(intrinsics).with_origin(0)
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    msg = CameraInfo(width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
                     k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                     r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    if header is not None:
        msg.header = header
    return msg
