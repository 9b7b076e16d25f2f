"""Tests for rgbd_perception.stages.depth_input (depth_to_metres)."""

import numpy as np
import pytest

from rgbd_perception.stages.depth_input import depth_to_metres, DepthError


def test_uint16_scaled_to_metres():
    """uint16 depth is multiplied by the depth scale into float64 metres; 0 stays 0."""
    depth = np.array([[1000, 0], [2500, 65535]], dtype=np.uint16)
    metres = depth_to_metres(depth)
    assert metres.dtype == np.float64
    assert metres.shape == (2, 2)
    np.testing.assert_allclose(metres, [[1.0, 0.0], [2.5, 65.535]], rtol=1e-15)


def test_uint16_custom_scale():
    """A depth scale of 0.0001 (tenths of a millimetre) is applied."""
    depth = np.array([[12345, 1]], dtype=np.uint16)
    np.testing.assert_allclose(depth_to_metres(depth, depth_scale=1e-4), [[1.2345, 1e-4]],
                               rtol=1e-12)


def test_float32_metres_nan_becomes_zero():
    """float32 metres pass through unscaled and NaN becomes 0 (missing)."""
    depth = np.array([[1.5, np.nan], [0.0, 2.25]], dtype=np.float32)
    metres = depth_to_metres(depth, depth_scale=0.001)
    assert metres.dtype == np.float64
    np.testing.assert_array_equal(metres, [[1.5, 0.0], [0.0, 2.25]])
    assert np.isnan(depth[0, 1]), 'the input must not be modified'


def test_float64_metres_returned_as_values():
    """float64 metres come back with the same values."""
    depth = np.linspace(0.5, 4.0, 12).reshape(3, 4)
    np.testing.assert_array_equal(depth_to_metres(depth), depth)


@pytest.mark.parametrize('bad', [np.inf, -np.inf])
def test_infinite_depth_rejected(bad):
    """Infinite values raise DepthError with their count and a hint to use 0 or NaN."""
    depth = np.ones((4, 4), dtype=np.float32)
    depth[0, :2] = bad
    with pytest.raises(DepthError, match=r'2 infinite values \(use 0 or NaN for missing\)'):
        depth_to_metres(depth)


def test_negative_float_depth_rejected():
    """Negative metres raise DepthError with their count."""
    depth = np.ones((3, 3), dtype=np.float32)
    depth[1, 1] = -0.5
    with pytest.raises(DepthError, match='1 negative values'):
        depth_to_metres(depth)


def test_negative_signed_integer_depth_rejected():
    """Negative values of a signed integer depth raise DepthError."""
    depth = np.array([[1000, -1], [-2, 500]], dtype=np.int32)
    with pytest.raises(DepthError, match='2 negative values'):
        depth_to_metres(depth)


def test_signed_integer_depth_without_negatives_scaled():
    """A non-negative signed integer depth is scaled like uint16."""
    depth = np.array([[1000, 0]], dtype=np.int32)
    np.testing.assert_array_equal(depth_to_metres(depth), [[1.0, 0.0]])


@pytest.mark.parametrize('depth', [
    np.zeros((4, 5), dtype=np.uint16),
    np.zeros((4, 5), dtype=np.float32),
    np.full((4, 5), np.nan, dtype=np.float32),
    np.where(np.eye(4, dtype=bool), 0.0, np.nan),
], ids=['uint16_zero', 'float32_zero', 'all_nan', 'nan_and_zero'])
def test_no_valid_pixel_rejected(depth):
    """A frame without a single valid pixel raises DepthError saying so."""
    with pytest.raises(DepthError, match=r'no valid pixel \(all zero or NaN\)'):
        depth_to_metres(depth)


def test_min_valid_fraction_rejects_sparse_frame():
    """A frame with less valid depth than min_valid_fraction is rejected with both numbers."""
    depth = np.array([[1000, 1000], [1000, 0]], dtype=np.uint16)  # 75 % valid
    with pytest.raises(DepthError, match=r'only 75\.00 % .*min_valid_fraction 0\.8'):
        depth_to_metres(depth, min_valid_fraction=0.8)


@pytest.mark.parametrize('fraction', [0.0, 0.5, 0.75])
def test_min_valid_fraction_accepts_enough_depth(fraction):
    """A valid fraction at or above min_valid_fraction is accepted."""
    depth = np.array([[1000, 1000], [1000, 0]], dtype=np.uint16)
    assert depth_to_metres(depth, min_valid_fraction=fraction)[0, 0] == 1.0


def test_min_valid_fraction_counts_nan_as_missing():
    """Pixels that are NaN count as missing for min_valid_fraction."""
    depth = np.array([[1.0, np.nan, np.nan, np.nan]], dtype=np.float32)
    with pytest.raises(DepthError, match=r'only 25\.00 %'):
        depth_to_metres(depth, min_valid_fraction=0.5)


@pytest.mark.parametrize('shape', [(4, 5, 1), (4, 5, 3), (20,), (0, 5), ()])
def test_non_2d_or_empty_rejected(shape):
    """3-D, 1-D, scalar and empty arrays raise DepthError naming the shape."""
    depth = np.ones(shape, dtype=np.uint16)
    with pytest.raises(DepthError, match='non-empty 2-D array') as info:
        depth_to_metres(depth)
    assert str(shape) in str(info.value)


@pytest.mark.parametrize('dtype', [np.bool_, np.complex64])
def test_unsupported_dtype_rejected(dtype):
    """Booleans and complex numbers are not depth and raise DepthError naming the dtype."""
    depth = np.ones((2, 2), dtype=dtype)
    with pytest.raises(DepthError, match=f'unsupported depth dtype {np.dtype(dtype)}'):
        depth_to_metres(depth)


def test_depth_error_is_value_error():
    """The DepthError is a ValueError, so callers can handle every input error together."""
    assert issubclass(DepthError, ValueError)
