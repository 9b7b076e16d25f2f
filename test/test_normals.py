"""Window sums of the normal fits (geometry.normals.window_sums) where windows are nearly empty."""

import numpy as np
import torch

from rgbd_perception.geometry.normals import (COUNT_TERM, moment_planes, unit_normals,
                                              window_sums)


def sparse_planes(shape, seed):
    """Moment planes of a random depth (1-3 m in cm) whose valid pixels are 3 % of the frame."""
    rng = np.random.default_rng(seed)
    depth_cm = torch.from_numpy(rng.uniform(100.0, 300.0, size=shape))
    valid = torch.from_numpy(rng.random(shape) < 0.03)
    a = torch.linspace(-0.5, 0.5, shape[1], dtype=torch.float64)[None, :]
    b = torch.linspace(-0.4, 0.4, shape[0], dtype=torch.float64)[:, None]
    return moment_planes(depth_cm, valid, a, b)


def direct_sums(planes, radius):
    """Each window summed term by term from its top-left corner (zeros outside)."""
    padded = np.pad(planes.numpy(), ((0, 0), (radius, radius), (radius, radius)))
    k = 2 * radius + 1
    _, height, width = planes.shape
    out = np.zeros(planes.shape)
    for v in range(height):
        for u in range(width):
            out[:, v, u] = padded[:, v:v + k, u:u + k].sum(axis=(1, 2))
    return out


def test_empty_and_sparse_windows_are_summed_exactly():
    """No valid pixel: exact zeros (a NaN normal); one or two: the exact direct sum."""
    planes = sparse_planes((40, 50), seed=3)
    sums = window_sums(planes, 3)
    count = sums[COUNT_TERM]
    empty, sparse = count == 0, (count > 0) & (count <= 2)
    assert empty.sum() > 100 and sparse.sum() > 100  # both kinds are exercised
    assert (sums[:, empty] == 0).all()  # box sums leave residues of ~1e-16 here
    assert np.array_equal(sums[:, sparse].numpy(), direct_sums(planes, 3)[:, sparse.numpy()])
    assert torch.isnan(unit_normals(sums)[:, empty]).all()


def test_denser_windows_keep_the_box_sums():
    """Windows of three or more valid pixels agree with direct sums to rounding."""
    planes = sparse_planes((30, 40), seed=4)
    sums = window_sums(planes, 5)
    dense = (sums[COUNT_TERM] > 2).numpy()
    assert dense.sum() > 100
    np.testing.assert_allclose(sums.numpy()[:, dense], direct_sums(planes, 5)[:, dense],
                               rtol=1e-12, atol=1e-12)
