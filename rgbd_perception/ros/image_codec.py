"""
Conversion between sensor_msgs/msg/Image and numpy arrays.

This is the project's own replacement for cv_bridge: there is no cv_bridge wheel for the
ROS 2 PyPI distribution, and the PyPI ``cv-bridge`` package is the ROS 1 version, which
mishandles 16UC1 depth images.

Supported encodings and their numpy form (see ``ENCODINGS``):

* ``rgb8``, ``bgr8``: (H, W, 3) uint8, channel order as stored (never reordered)
* ``rgba8``, ``bgra8``: (H, W, 4) uint8
* ``mono8``, ``8UC1``: (H, W) uint8
* ``mono16``, ``16UC1``: (H, W) uint16
* ``32SC1``: (H, W) int32 (instance-label images)
* ``32FC1``: (H, W) float32
* ``64FC1``: (H, W) float64

Decoding honours row padding (``step`` larger than ``width * bytes_per_pixel``) and
``is_bigendian``; encoding always writes unpadded rows in the machine's byte order.
Every unsupported or inconsistent message or array raises ``ImageFormatError``.
"""

import array as pyarray
import sys

import numpy as np
from sensor_msgs.msg import Image

from rgbd_perception.errors import InputError
from rgbd_perception.ros.image_encodings import COLOUR_ENCODINGS

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

_MACHINE_IS_BIGENDIAN = sys.byteorder == 'big'


class ImageFormatError(InputError):
    """An Image message or numpy array that is unsupported or internally inconsistent."""


def _supported():
    return ', '.join(sorted(ENCODINGS))


def _lookup(encoding):
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
    dtype, channels = _lookup(encoding)
    return dtype.itemsize * channels


def _shape(height, width, channels):
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
    dtype, channels = _lookup(encoding)
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
    pixels = raw[:, :row_bytes].view(stored).reshape(_shape(height, width, channels))
    return np.array(pixels, dtype=dtype, order='C', copy=True)


def numpy_to_image(array, encoding, header=None):
    """
    Encode a numpy array as a sensor_msgs/msg/Image.

    The array must have exactly the dtype and shape the encoding calls for (no casting):
    (H, W, 3) uint8 for rgb8/bgr8, (H, W, 4) uint8 for rgba8/bgra8, (H, W) uint8 for
    mono8/8UC1, (H, W) uint16 for mono16/16UC1, (H, W) int32 for 32SC1, (H, W) float32 for
    32FC1 and (H, W) float64 for 64FC1;
    H and W must be > 0. An array of the right type stored in non-native byte order is
    accepted and converted.

    :param array: numpy.ndarray holding the pixels (any memory layout)
    :param encoding: encoding name, a key of ``ENCODINGS``
    :param header: optional std_msgs.msg.Header to use as the message header
    :returns: sensor_msgs.msg.Image with unpadded rows (step = width * bytes_per_pixel),
        is_bigendian set to the machine's byte order
    :raises ImageFormatError: if the encoding is unsupported or the array does not fit it
    """
    dtype, channels = _lookup(encoding)
    if not isinstance(array, np.ndarray):
        raise ImageFormatError(
            f'expected a numpy.ndarray for encoding {encoding!r}, got {type(array).__name__}')
    if array.dtype.newbyteorder('=') != dtype:
        raise ImageFormatError(
            f'dtype {array.dtype} does not match encoding {encoding!r} (needs {dtype})')
    if channels == 1:
        fits = array.ndim == 2
        wanted = '(H, W)'
    else:
        fits = array.ndim == 3 and array.shape[2] == channels
        wanted = f'(H, W, {channels})'
    if not fits:
        raise ImageFormatError(
            f'shape {array.shape} does not match encoding {encoding!r} (needs {wanted})')
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageFormatError(f'zero size image (height {height}, width {width})')

    # Native byte order, C order: a no-op for the usual contiguous native array.
    native = np.ascontiguousarray(array, dtype=dtype)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = int(_MACHINE_IS_BIGENDIAN)
    msg.step = width * dtype.itemsize * channels
    # An array.array('B') is stored by the setter as is; bytes or a numpy array would be
    # converted element by element (slow, especially with ROS_PYTHON_CHECK_FIELDS=1).
    data = pyarray.array('B')
    data.frombytes(native.reshape(-1).view(np.uint8))
    msg.data = data
    return msg


def image_to_rgb(msg):
    """Decode a colour Image (any of COLOUR_ENCODINGS) into an (H, W, 3) uint8 RGB array."""
    array = image_to_numpy(msg, COLOUR_ENCODINGS)
    if array.ndim == 2:
        array = array[:, :, None]
    return np.ascontiguousarray(array[:, :, COLOUR_ENCODINGS[msg.encoding]])
