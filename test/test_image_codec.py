"""Tests for ros.image_codec and io.ros_messages (sensor_msgs/msg/Image <-> numpy)."""

import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from rgbd_perception.io.ros_messages import (bytes_per_pixel, ENCODINGS, image_to_numpy,
                                             ImageFormatError)
from rgbd_perception.ros.image_codec import numpy_to_image

HEIGHT = 5
WIDTH = 7
MACHINE_IS_BIGENDIAN = int(sys.byteorder == 'big')

EXPECTED_FORMS = {
    '16UC1': (np.uint16, (HEIGHT, WIDTH), 2),
    '32FC1': (np.float32, (HEIGHT, WIDTH), 4),
    '32SC1': (np.int32, (HEIGHT, WIDTH), 4),
    '64FC1': (np.float64, (HEIGHT, WIDTH), 8),
    '8UC1': (np.uint8, (HEIGHT, WIDTH), 1),
    'bgr8': (np.uint8, (HEIGHT, WIDTH, 3), 3),
    'bgra8': (np.uint8, (HEIGHT, WIDTH, 4), 4),
    'mono16': (np.uint16, (HEIGHT, WIDTH), 2),
    'mono8': (np.uint8, (HEIGHT, WIDTH), 1),
    'rgb8': (np.uint8, (HEIGHT, WIDTH, 3), 3),
    'rgba8': (np.uint8, (HEIGHT, WIDTH, 4), 4),
}


def random_image(encoding, seed=0, height=HEIGHT, width=WIDTH):
    """Return a deterministic random array of the form the encoding calls for."""
    rng = np.random.default_rng(seed)
    dtype, channels = ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype.kind == 'f':
        return rng.standard_normal(shape).astype(dtype) * 1000
    return rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def hand_built(encoding, array, step=None, is_bigendian=MACHINE_IS_BIGENDIAN, pad_byte=0xAB):
    """Build an Image by hand from an array already in the wanted byte order."""
    height, width = array.shape[:2]
    row_bytes = width * bytes_per_pixel(encoding)
    step = row_bytes if step is None else step
    rows = np.full((height, step), pad_byte, dtype=np.uint8)
    rows[:, :row_bytes] = np.ascontiguousarray(array).view(np.uint8).reshape(height, row_bytes)
    msg = Image()
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = is_bigendian
    msg.step = step
    msg.data = rows.tobytes()
    return msg


def test_table_matches_documented_forms():
    """ENCODINGS holds exactly the documented encodings with their dtype and channels."""
    assert set(ENCODINGS) == set(EXPECTED_FORMS)
    for encoding, (dtype, shape, bpp) in EXPECTED_FORMS.items():
        assert ENCODINGS[encoding][0] == np.dtype(dtype)
        assert bytes_per_pixel(encoding) == bpp


@pytest.mark.parametrize('encoding', sorted(EXPECTED_FORMS))
def test_round_trip(encoding):
    """Round trip numpy -> Image -> numpy gives back an equal array and sets the message fields."""
    dtype, shape, bpp = EXPECTED_FORMS[encoding]
    original = random_image(encoding, seed=1)
    msg = numpy_to_image(original, encoding)
    assert msg.encoding == encoding
    assert (msg.height, msg.width) == (HEIGHT, WIDTH)
    assert msg.step == WIDTH * bpp
    assert msg.is_bigendian == MACHINE_IS_BIGENDIAN
    assert len(msg.data) == HEIGHT * WIDTH * bpp
    decoded = image_to_numpy(msg)
    assert decoded.dtype == np.dtype(dtype)
    assert decoded.shape == shape
    assert decoded.flags.c_contiguous
    np.testing.assert_array_equal(decoded, original)


def test_round_trip_uses_header():
    """A given header is copied into the message."""
    header = Header(frame_id='camera_color_optical_frame')
    header.stamp.sec = 12
    header.stamp.nanosec = 345
    msg = numpy_to_image(random_image('mono8'), 'mono8', header=header)
    assert msg.header.frame_id == 'camera_color_optical_frame'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)


def test_non_contiguous_input_round_trips():
    """A strided (non-contiguous) input array is encoded correctly."""
    big = random_image('rgb8', seed=2, height=2 * HEIGHT, width=2 * WIDTH)
    view = big[::2, ::2]
    assert not view.flags.c_contiguous
    decoded = image_to_numpy(numpy_to_image(view, 'rgb8'))
    np.testing.assert_array_equal(decoded, view)


@pytest.mark.parametrize('encoding', sorted(EXPECTED_FORMS))
def test_padded_rows_are_ignored(encoding):
    """Padding bytes at the end of each row (step > width * bpp) are dropped."""
    original = random_image(encoding, seed=3)
    step = WIDTH * bytes_per_pixel(encoding) + 7
    msg = hand_built(encoding, original, step=step, pad_byte=0xAB)
    assert bytes(msg.data)[step - 1] == 0xAB
    decoded = image_to_numpy(msg)
    assert decoded.shape == EXPECTED_FORMS[encoding][1]
    assert decoded.flags.c_contiguous
    np.testing.assert_array_equal(decoded, original)


@pytest.mark.parametrize('encoding,wire_dtype', [
    ('16UC1', '>u2'), ('mono16', '>u2'), ('32FC1', '>f4'), ('64FC1', '>f8'),
    ('16UC1', '<u2'), ('mono16', '<u2'), ('32FC1', '<f4'), ('64FC1', '<f8'),
])
def test_byte_order_flag(encoding, wire_dtype):
    """A message flagged big- or little-endian decodes to native byte order, equal values."""
    original = random_image(encoding, seed=4)
    msg = hand_built(encoding, original.astype(wire_dtype),
                     is_bigendian=int(wire_dtype.startswith('>')))
    decoded = image_to_numpy(msg)
    assert decoded.dtype == original.dtype
    assert decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, original)


def test_big_endian_padded_depth():
    """Big-endian data with odd row padding (unaligned rows) decodes correctly."""
    original = random_image('16UC1', seed=6)
    msg = hand_built('16UC1', original.astype('>u2'), step=WIDTH * 2 + 7, is_bigendian=1)
    np.testing.assert_array_equal(image_to_numpy(msg), original)


def test_known_depth_values():
    """Specific 16UC1 bytes decode to the expected millimetre values in either byte order."""
    little = Image(height=1, width=2, encoding='16UC1', is_bigendian=0, step=4,
                   data=bytes([0xE8, 0x03, 0x01, 0x00]))
    big = Image(height=1, width=2, encoding='16UC1', is_bigendian=1, step=4,
                data=bytes([0x03, 0xE8, 0x00, 0x01]))
    np.testing.assert_array_equal(image_to_numpy(little), [[1000, 1]])
    np.testing.assert_array_equal(image_to_numpy(big), [[1000, 1]])


@pytest.mark.parametrize('encoding', sorted(EXPECTED_FORMS))
def test_decoded_array_does_not_alias_message(encoding):
    """The decoded array is writeable and owns its memory; mutating it leaves msg.data alone."""
    msg = numpy_to_image(random_image(encoding, seed=7), encoding)
    before = bytes(msg.data)
    decoded = image_to_numpy(msg)
    assert decoded.flags.writeable
    assert not np.shares_memory(decoded, np.frombuffer(msg.data, dtype=np.uint8))
    decoded[...] = 0
    decoded += 1
    assert bytes(msg.data) == before


def test_decoded_array_outlives_message():
    """The decoded array stays valid after the message is deleted."""
    original = random_image('32FC1', seed=8)
    msg = numpy_to_image(original, '32FC1')
    decoded = image_to_numpy(msg)
    del msg
    np.testing.assert_array_equal(decoded, original)


def test_encoded_message_does_not_alias_array():
    """Mutating the source array after encoding leaves the message unchanged."""
    original = random_image('mono16', seed=9)
    msg = numpy_to_image(original, 'mono16')
    expected = original.copy()
    original[...] = 0
    np.testing.assert_array_equal(image_to_numpy(msg), expected)


def test_expected_encodings_accepts_listed():
    """An encoding listed in expected_encodings decodes normally."""
    original = random_image('16UC1', seed=10)
    msg = numpy_to_image(original, '16UC1')
    decoded = image_to_numpy(msg, expected_encodings=('16UC1', '32FC1'))
    np.testing.assert_array_equal(decoded, original)


def test_error_is_value_error():
    """The error type is a ValueError so generic handlers still catch it."""
    assert issubclass(ImageFormatError, ValueError)


def test_unknown_encoding():
    """An unsupported encoding is named together with the supported ones."""
    msg = hand_built('mono8', random_image('mono8'))
    msg.encoding = 'yuv422'
    with pytest.raises(ImageFormatError,
                       match=r"unsupported encoding 'yuv422' \(supported: 16UC1, 32FC1, .*\)"):
        image_to_numpy(msg)


def test_encoding_not_expected():
    """An encoding outside expected_encodings names the allowed ones."""
    msg = numpy_to_image(random_image('rgb8'), 'rgb8')
    with pytest.raises(ImageFormatError, match=r"'rgb8'.*expected.*16UC1, 32FC1"):
        image_to_numpy(msg, expected_encodings=['16UC1', '32FC1'])


def test_unknown_encoding_checked_before_expected():
    """An unknown encoding is reported as unsupported even when expected_encodings is given."""
    msg = hand_built('mono8', random_image('mono8'))
    msg.encoding = 'yuv422'
    with pytest.raises(ImageFormatError, match=r"unsupported encoding 'yuv422'"):
        image_to_numpy(msg, expected_encodings=['yuv422'])


@pytest.mark.parametrize('encoding,extra_bytes', [('rgb8', -5), ('16UC1', 2)])
def test_data_length_mismatch(encoding, extra_bytes):
    """Data shorter or longer than height * step is rejected with both numbers."""
    msg = numpy_to_image(random_image(encoding), encoding)
    data = bytes(msg.data)
    msg.data = data[:extra_bytes] if extra_bytes < 0 else data + b'\x00' * extra_bytes
    step = WIDTH * bytes_per_pixel(encoding)
    with pytest.raises(ImageFormatError,
                       match=rf'data length {HEIGHT * step + extra_bytes} != height {HEIGHT} '
                             rf'\* step {step} = {HEIGHT * step}'):
        image_to_numpy(msg)


def test_zero_height():
    """A message with zero height is rejected."""
    msg = Image(height=0, width=640, encoding='rgb8', step=640 * 3)
    with pytest.raises(ImageFormatError, match=r'zero size image \(height 0, width 640\)'):
        image_to_numpy(msg)


def test_zero_width():
    """A message with zero width is rejected."""
    msg = Image(height=480, width=0, encoding='mono8', step=0)
    with pytest.raises(ImageFormatError, match=r'zero size image \(height 480, width 0\)'):
        image_to_numpy(msg)


def test_step_too_small():
    """A step smaller than width * bytes per pixel is rejected with the numbers."""
    msg = Image(height=4, width=4, encoding='rgb8', step=10, data=bytes(40))
    with pytest.raises(ImageFormatError,
                       match=r'step 10 < width 4 \* 3 bytes per pixel = 12'):
        image_to_numpy(msg)


def test_numpy_to_image_wrong_dtype():
    """numpy_to_image rejects an array whose dtype differs from the encoding's (no casting)."""
    depth = random_image('16UC1').astype(np.int32)
    with pytest.raises(ImageFormatError, match=r"dtype int32 .*'16UC1'.*uint16"):
        numpy_to_image(depth, '16UC1')
    with pytest.raises(ImageFormatError, match=r"dtype float64 .*'32FC1'.*float32"):
        numpy_to_image(np.zeros((HEIGHT, WIDTH)), '32FC1')


def test_numpy_to_image_wrong_shape():
    """numpy_to_image rejects an array whose shape does not fit the encoding."""
    with pytest.raises(ImageFormatError, match=r"shape \(5, 7\) .*'rgb8'.*\(H, W, 3\)"):
        numpy_to_image(np.zeros((HEIGHT, WIDTH), np.uint8), 'rgb8')
    with pytest.raises(ImageFormatError, match=r"shape \(5, 7, 3\) .*'rgba8'.*\(H, W, 4\)"):
        numpy_to_image(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgba8')
    with pytest.raises(ImageFormatError, match=r"shape \(5, 7, 1\) .*'mono8'.*\(H, W\)"):
        numpy_to_image(np.zeros((HEIGHT, WIDTH, 1), np.uint8), 'mono8')


def test_numpy_to_image_unknown_encoding():
    """numpy_to_image rejects an unsupported encoding."""
    with pytest.raises(ImageFormatError, match=r"unsupported encoding 'yuv422'"):
        numpy_to_image(np.zeros((HEIGHT, WIDTH, 2), np.uint8), 'yuv422')


def test_numpy_to_image_zero_size():
    """numpy_to_image rejects an empty array."""
    with pytest.raises(ImageFormatError, match=r'zero size image \(height 0, width 7\)'):
        numpy_to_image(np.zeros((0, WIDTH), np.uint16), 'mono16')
