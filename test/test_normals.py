"""Window sums of the normal fits (geometry.normals.window_sums) where windows are nearly empty."""

from matlab_normals import direct_window_sums
import numpy as np
import pytest
import torch

from rgbd_perception.geometry.normals import (COUNT_TERM, moment_planes, ReferenceTerms,
                                              sparse_limit, unit_normals, window_sums)


def sparse_planes(shape, seed, fraction):
    """(moment planes, ReferenceTerms) of a random depth (1-3 m in cm), ``fraction`` valid."""
    rng = np.random.default_rng(seed)
    depth_cm = torch.from_numpy(rng.uniform(100.0, 300.0, size=shape))
    valid = torch.from_numpy(rng.random(shape) < fraction)
    du = torch.arange(shape[1], dtype=torch.float64)[None, :] + 1.0 - shape[1] / 2 - 0.37
    dv = torch.arange(shape[0], dtype=torch.float64)[:, None] + 1.0 - shape[0] / 2 + 0.21
    fx, fy = 518.8579, 519.4696
    return (moment_planes(depth_cm, valid, du / fx, dv / fy),
            ReferenceTerms(depth_cm, valid, du, dv, fx, fy))


def all_terms(reference):
    """Return the (9, H, W) reference terms of every pixel (zeros where not valid)."""
    height, width = reference.valid.shape
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing='ij')
    return reference.at(rows, cols)


@pytest.mark.parametrize('radius, fraction', [(3, 0.03), (10, 0.008)])
def test_sparse_windows_are_the_reference_sums(radius, fraction):
    """No valid pixel: exact zeros (a NaN normal); up to 2r+1: MATLAB's direct sums, exactly."""
    planes, reference = sparse_planes((40, 50), 3, fraction)
    sums = window_sums(planes, radius, reference)
    count = sums[COUNT_TERM]
    empty, sparse = count == 0, (count > 0) & (count <= sparse_limit(radius))
    assert empty.sum() > 10 and sparse.sum() > 100  # both kinds are exercised
    assert (sums[:, empty] == 0).all()  # box sums leave residues of ~1e-16 here
    direct = direct_window_sums(all_terms(reference).numpy(), radius)
    assert np.array_equal(sums[:, sparse].numpy(), direct[:, sparse.numpy()])
    assert torch.isnan(unit_normals(sums)[:, empty]).all()


def test_denser_windows_keep_the_box_sums():
    """Windows of more than 2r+1 valid pixels agree with direct sums to rounding."""
    planes, reference = sparse_planes((30, 40), 4, 0.5)
    sums = window_sums(planes, 2, reference)
    dense = (sums[COUNT_TERM] > sparse_limit(2)).numpy()
    assert dense.sum() > 100
    np.testing.assert_allclose(sums.numpy()[:, dense], direct_window_sums(planes.numpy(), 2)[
        :, dense], rtol=1e-12, atol=1e-12)
