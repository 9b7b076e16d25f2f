"""
Decoding sensor_msgs Image and CameraInfo messages into numpy arrays and Intrinsics.

Also the fields of a pinhole CameraInfo (:func:`pinhole_camera_info_fields`), shared by the
rclpy message builder (ros.camera_info) and the recording writer (io.recordings).

Pure numpy on the messages' fields, so any object with them decodes: rclpy's messages in the
nodes, rosbags' in recordings (rgbd_perception.io.recordings), without importing ROS here.
Encoding (numpy -> message) needs the ROS message classes: rgbd_perception.ros.image_codec.

Supported image encodings and their numpy form (see ``ENCODINGS``):

* ``rgb8``, ``bgr8``: (H, W, 3) uint8, channel order as stored (never reordered)
* ``rgba8``, ``bgra8``: (H, W, 4) uint8
* ``mono8``, ``8UC1``: (H, W) uint8
* ``mono16``, ``16UC1``: (H, W) uint16
* ``32SC1``: (H, W) int32 (instance-label images)
* ``32FC1``: (H, W) float32
* ``64FC1``: (H, W) float64

Decoding honours row padding (``step`` larger than ``width * bytes_per_pixel``) and
``is_bigendian``.  Every unsupported or inconsistent message raises ``ImageFormatError`` or
``CameraInfoError``.
"""

import math

import numpy as np

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.camera import as_intrinsics, Intrinsics
from rgbd_perception.io.image_encodings import COLOUR_ENCODINGS

# Encoding name -> (numpy dtype, channels). Everything else is derived from this table.
# channels == 1 means a 2-D (H, W) array; more means a 3-D (H, W, channels) array.
ENCODINGS = {
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
    '32SC1': (np.dtype(np.int32), 1),
    '64FC1': (np.dtype(np.float64), 1),
    '8UC1': (np.dtype(np.uint8), 1),
    'bgr8': (np.dtype(np.uint8), 3),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono16': (np.dtype(np.uint16), 1),
    'mono8': (np.dtype(np.uint8), 1),
    'rgb8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
}


class ImageFormatError(InputError):
    """An Image message or numpy array that is unsupported or internally inconsistent."""


def _supported():
    return ', '.join(sorted(ENCODINGS))


def encoding_layout(encoding):
    """Return (dtype, channels) for an encoding, or raise ImageFormatError."""
    try:
        return ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ImageFormatError(
            f'unsupported encoding {encoding!r} (supported: {_supported()})') from None


def bytes_per_pixel(encoding):
    """
    Return the number of bytes one pixel occupies for an encoding.

    :param encoding: encoding name, a key of ``ENCODINGS`` (e.g. 'rgb8' -> 3, '32FC1' -> 4)
    :returns: int, dtype itemsize * channels
    :raises ImageFormatError: if the encoding is not supported
    """
    dtype, channels = encoding_layout(encoding)
    return dtype.itemsize * channels


def array_shape(height, width, channels):
    """Return the numpy shape of an image: (H, W) for one channel, else (H, W, channels)."""
    return (height, width) if channels == 1 else (height, width, channels)


def image_to_numpy(msg, expected_encodings=None):
    """
    Decode a sensor_msgs/msg/Image into a numpy array.

    Validates, in this order: the encoding is supported (and in ``expected_encodings`` when
    given), height > 0 and width > 0, step >= width * bytes_per_pixel, and
    len(data) == height * step. Row padding bytes are dropped and multi-byte values are
    converted to native byte order when ``is_bigendian`` differs from the machine's.

    :param msg: sensor_msgs.msg.Image whose ``data`` is an array.array('B') or bytes
    :param expected_encodings: optional iterable of encoding names the caller accepts
    :returns: C-contiguous, writeable array in native byte order that owns its memory
        (it does not alias ``msg.data``): (H, W, 3) uint8 for rgb8/bgr8, (H, W, 4) uint8
        for rgba8/bgra8, (H, W) uint8 for mono8/8UC1, (H, W) uint16 for mono16/16UC1,
        (H, W) int32 for 32SC1, (H, W) float32 for 32FC1 and (H, W) float64 for 64FC1
    :raises ImageFormatError: if the message is unsupported or inconsistent
    """
    encoding = msg.encoding
    dtype, channels = encoding_layout(encoding)
    if expected_encodings is not None:
        allowed = sorted(expected_encodings)
        if encoding not in allowed:
            raise ImageFormatError(
                f'encoding {encoding!r} not among the expected encodings '
                f'({", ".join(allowed)})')

    height, width, step = msg.height, msg.width, msg.step
    if height <= 0 or width <= 0:
        raise ImageFormatError(f'zero size image (height {height}, width {width})')
    bpp = dtype.itemsize * channels
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageFormatError(
            f'step {step} < width {width} * {bpp} bytes per pixel = {row_bytes} '
            f'(encoding {encoding!r})')
    expected_len = height * step
    if len(msg.data) != expected_len:
        raise ImageFormatError(
            f'data length {len(msg.data)} != height {height} * step {step} = {expected_len}')

    # Zero-copy views into the message buffer: rows, then padding dropped, then reinterpreted
    # with the message's byte order. The single copy below owns its memory and converts to
    # native byte order in the same pass.
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    stored = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    pixels = raw[:, :row_bytes].view(stored).reshape(array_shape(height, width, channels))
    return np.array(pixels, dtype=dtype, order='C', copy=True)


def image_to_rgb(msg):
    """Decode a colour Image (any of COLOUR_ENCODINGS) into an (H, W, 3) uint8 RGB array."""
    array = image_to_numpy(msg, COLOUR_ENCODINGS)
    if array.ndim == 2:
        array = array[:, :, None]
    return np.ascontiguousarray(array[:, :, COLOUR_ENCODINGS[msg.encoding]])


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


def pinhole_camera_info_fields(intrinsics):
    """
    Return the CameraInfo fields of an undistorted pinhole camera (plumb_bob, D all zeros).

    intrinsics: Intrinsics (either pixel origin) or what as_intrinsics takes (numbers are
    0-based).  Returns {'distortion_model', 'd', 'k', 'r', 'p'} with K and P 0-based, as
    lists of floats (row-major).
    """
    camera = as_intrinsics(intrinsics).with_origin(0)
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    return {'distortion_model': 'plumb_bob', 'd': [0.0] * 5,
            'k': [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            'r': [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            'p': [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]}


def header_nanoseconds(header):
    """Return a std_msgs/Header's stamp as integer nanoseconds (exact, no float rounding)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def stamp_nanoseconds(msg):
    """Return the header stamp of a message as integer nanoseconds."""
    return header_nanoseconds(msg.header)
