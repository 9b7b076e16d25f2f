"""Tests for rgbd_perception.geometry.box_filter (zero-padded square window sums)."""

import numpy as np
import pytest
import torch

from rgbd_perception.geometry.box_filter import box_sum, box_sum_cumsum


def brute_force_box_sum(planes, radius):
    """Window sums with explicit loops, pixels outside the plane counting as zero."""
    channels, height, width = planes.shape
    out = np.zeros_like(planes)
    for c in range(channels):
        for v in range(height):
            for u in range(width):
                total = 0.0
                for dv in range(-radius, radius + 1):
                    for du in range(-radius, radius + 1):
                        if 0 <= v + dv < height and 0 <= u + du < width:
                            total += planes[c, v + dv, u + du]
                out[c, v, u] = total
    return out


def random_planes(shape, seed, low=0.5, high=2.0):
    """Return a deterministic random float64 tensor of ``shape``."""
    return torch.from_numpy(np.random.default_rng(seed).uniform(low, high, size=shape))


@pytest.mark.parametrize('radius', [2, 5])
@pytest.mark.parametrize('function', [box_sum, box_sum_cumsum])
def test_matches_brute_force(function, radius):
    """Both implementations equal a brute-force zero-padded window sum on a 9x11 array."""
    planes = random_planes((2, 9, 11), seed=radius, low=-1.0, high=1.0)
    expected = brute_force_box_sum(planes.numpy(), radius)
    np.testing.assert_allclose(function(planes, radius).numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('shape, radius', [
    ((1, 64, 48), 1),
    ((3, 40, 50), 3),
    ((9, 30, 31), 10),
    ((2, 5, 40), 4),     # height smaller than the 9-pixel window
    ((2, 40, 6), 4),     # width smaller than the window
    ((1, 3, 4), 7),      # the window covers the whole plane from every pixel
    ((1, 1, 1), 3),
    ((2, 7, 8), 0),
])
def test_opencv_and_cumsum_agree(shape, radius):
    """The OpenCV CPU path and the prefix-sum path agree to 1e-9 relative."""
    planes = random_planes(shape, seed=sum(shape) + radius)
    fast = box_sum(planes, radius)
    reference = box_sum_cumsum(planes, radius)
    assert fast.shape == reference.shape == planes.shape
    assert fast.dtype == reference.dtype == torch.float64
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-9, atol=0)


def test_opencv_and_cumsum_agree_on_large_magnitudes():
    """They also agree on centimetre-scale products like those of the normal fits."""
    depth_cm = random_planes((1, 48, 64), seed=7, low=50.0, high=800.0)
    planes = torch.cat((depth_cm, depth_cm * depth_cm, 1.0 / depth_cm))
    for radius in (3, 10):
        np.testing.assert_allclose(box_sum(planes, radius).numpy(),
                                   box_sum_cumsum(planes, radius).numpy(), rtol=1e-9, atol=0)


def test_window_larger_than_plane_sums_everything():
    """When the window covers the plane from every pixel each output is the plane's sum."""
    planes = random_planes((2, 3, 4), seed=3)
    for function in (box_sum, box_sum_cumsum):
        result = function(planes, 5).numpy()
        totals = planes.numpy().sum(axis=(1, 2))
        np.testing.assert_allclose(result, np.broadcast_to(totals[:, None, None], (2, 3, 4)),
                                   rtol=1e-12)


def test_radius_zero_is_identity():
    """A 1x1 window returns the input values."""
    planes = random_planes((2, 6, 5), seed=11)
    for function in (box_sum, box_sum_cumsum):
        np.testing.assert_allclose(function(planes, 0).numpy(), planes.numpy(), rtol=1e-12)


def test_non_contiguous_input_and_input_unchanged():
    """A strided view is accepted, the result is a new tensor and the input is untouched."""
    base = random_planes((2, 18, 22), seed=5)
    planes = base[:, ::2, ::2]
    before = planes.clone()
    result = box_sum(planes, 2)
    assert result.data_ptr() != planes.data_ptr()
    np.testing.assert_array_equal(planes.numpy(), before.numpy())
    expected = brute_force_box_sum(planes.numpy(), 2)
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-12)
