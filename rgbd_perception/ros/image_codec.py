"""
Encoding numpy arrays as sensor_msgs/msg/Image (decoding: rgbd_perception.io.ros_messages).

This and io.ros_messages are the project's own replacement for cv_bridge: there is no
cv_bridge wheel for the ROS 2 PyPI distribution, and the PyPI ``cv-bridge`` package is the
ROS 1 version, which mishandles 16UC1 depth images.  Encoding writes unpadded rows in the
machine's byte order; an array that does not fit its encoding raises ``ImageFormatError``.
"""

import array as pyarray
import sys

import numpy as np
from sensor_msgs.msg import Image

from rgbd_perception.io.ros_messages import encoding_layout, ImageFormatError

_MACHINE_IS_BIGENDIAN = sys.byteorder == 'big'


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
    dtype, channels = encoding_layout(encoding)
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
