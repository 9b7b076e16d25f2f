"""
Surface normals by least-squares plane fits in square windows (Gupta et al., 2014).

For every pixel the plane n . [X/Z, Y/Z, 1] = 1/Z is fitted to the valid points of the
(2r+1) x (2r+1) window around it, with the sums of the normal equations taken by box
filters (missing pixels and pixels outside the image contribute zero). This is the
reference ``computeNormalsSquareSupport`` of rgbdutils, including its orientation rule.
"""

import torch

from rgbd_perception.geometry.box_filter import box_sum

COUNT_TERM = 5     # the moment plane of the valid-pixel weights (its sums count the pixels)
SPARSE_WINDOW = 2  # windows with at most this many valid pixels are summed exactly


def moment_planes(depth_cm, valid, a, b):
    """
    Stack the 9 per-pixel terms of A^T A (6) and A^T b (3); (9, H, W) float64.

    depth_cm: (H, W) float64 (any value where invalid); valid: (H, W) bool; a: (1, W) and
    b: (H, 1) ray slopes. Invalid pixels contribute zero.
    """
    weight = valid.to(torch.float64)
    inv_z = weight / torch.where(valid, depth_cm, 1.0)
    a_w = a * weight
    b_w = b * weight
    return torch.stack((a * a_w, a * b_w, a_w, b * b_w, b_w, weight,
                        a * inv_z, b * inv_z, inv_z))


def window_sums(planes, radius):
    """
    Sum the moment planes over (2r+1) x (2r+1) windows as MATLAB's ``filter2`` does.

    planes: (9, H, W) float64 from :func:`moment_planes`. Returns (9, H, W) float64.
    Running or prefix sums (:func:`box_sum`) leave residues of ~1e-16 of the values that
    passed through a window, which decide the fit where a window holds almost nothing: an
    empty window must give exact zeros (an undefined normal), and a window of one or two
    valid pixels an exact sum (the normal MATLAB derives from it). Those windows (count <=
    ``SPARSE_WINDOW``; counts of 0/1 weights are exact in any summation) are summed
    directly: a sum of at most two non-zero terms is the same in every order.
    """
    sums = box_sum(planes, radius)
    count = sums[COUNT_TERM]
    sums.masked_fill_((count == 0).expand_as(sums), 0.0)
    rows, cols = torch.nonzero((count > 0) & (count <= SPARSE_WINDOW), as_tuple=True)
    if rows.numel():
        offsets = torch.arange(2 * radius + 1, device=planes.device)
        padded = torch.nn.functional.pad(planes, (radius, radius, radius, radius))
        windows = padded[:, rows[:, None, None] + offsets[:, None],
                         cols[:, None, None] + offsets]            # (9, K, 2r+1, 2r+1)
        sums[:, rows, cols] = windows.sum((2, 3))
    return sums


def unit_normals(sums):
    """
    Solve the 3x3 normal equations per pixel; (3, H, W) unit normals of either sign.

    sums: (9, H, W) window sums of :func:`moment_planes`. NaN where the window holds no
    valid point. The sign is arbitrary: see :func:`oriented_normals`.
    """
    nx, ny, nz = adjugate_solution(*sums.unbind(0))
    return torch.stack((nx, ny, nz)).mul_((nx * nx + ny * ny + nz * nz).rsqrt_())


def adjugate_solution(a0, a1, a2, a3, a4, a5, b0, b1, b2):
    """
    Return adj(A) b, the normal equations' solution up to the positive factor 1 / det(A).

    A = [[a0 a1 a2] [a1 a3 a4] [a2 a4 a5]] and b = (b0, b1, b2) are the 9 window sums of
    :func:`moment_planes`; the normalisation removes the factor (as in the reference).
    Plain arithmetic, so the same operations serve tensors here and scalars in the numba
    kernels of geometry.hha_cpu (which compile this function): both paths round alike.
    """
    c0 = a3 * a5 - a4 * a4
    c1 = a2 * a4 - a1 * a5
    c2 = a1 * a4 - a2 * a3
    c3 = a0 * a5 - a2 * a2
    c4 = a1 * a2 - a0 * a4
    c5 = a0 * a3 - a1 * a1
    return (c0 * b0 + c1 * b1 + c2 * b2, c1 * b0 + c3 * b1 + c4 * b2,
            c2 * b0 + c4 * b1 + c5 * b2)


def oriented_normals(sums, points):
    """
    Solve the normal equations per pixel and orient the unit normals as the reference.

    sums: (9, H, W) window sums of :func:`moment_planes`; points: (3, H, W) camera-frame
    points of all pixels (cm). Returns (3, H, W) unit normals, flipped to n_z >= 0 and then
    to n . P >= 0 (the reference's order), NaN where the window holds no valid point.
    """
    normals = unit_normals(sums)
    # The reference's sign(0) = +1 differs from copysign only for -0.0 (an empty window).
    normals.mul_(torch.ones_like(normals[2]).copysign_(normals[2]))
    facing = (normals * points).sum(0)
    return normals.mul_(torch.ones_like(facing).copysign_(facing))
