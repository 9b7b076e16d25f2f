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


def sparse_limit(radius):
    """
    Return the most valid pixels a window of ``radius`` may hold to be summed directly: 2r+1.

    Pixels on one straight image line have rays in one plane through the camera centre, so
    their normal equations are singular and the fitted "normal" is rounding noise: MATLAB's
    value there depends on every bit of its terms and on its summation order. Such windows
    hold at most 2r+1 valid pixels (one per column, or per row), so every window that
    sparse is summed directly (see :func:`window_sums`).
    """
    return 2 * radius + 1


def moment_planes(depth_cm, valid, a, b):
    """
    Stack the 9 per-pixel terms of A^T A (6) and A^T b (3); (9, H, W) float64.

    depth_cm: (H, W) float64 (any value where invalid); valid: (H, W) bool; a: (1, W) and
    b: (H, 1) ray slopes. Invalid pixels contribute zero. These terms, from the ray slopes,
    feed the running window sums of dense windows (where their last bits do not matter);
    sparse windows use :func:`reference_moment_terms`.
    """
    weight = valid.to(torch.float64)
    inv_z = weight / torch.where(valid, depth_cm, 1.0)
    a_w = a * weight
    b_w = b * weight
    return torch.stack((a * a_w, a * b_w, a_w, b * b_w, b_w, weight,
                        a * inv_z, b * inv_z, inv_z))


def reference_moment_terms(depth_cm, du, dv, fx, fy):
    """
    Return the 9 moment terms of valid pixels, computed operation by operation as the reference.

    depth_cm: depth in cm (> 0); du, dv: the pixel's column and row minus the principal
    point, in the intrinsics' own pixel origin (1-based numbers: MATLAB's xx - cx, yy - cy);
    fx, fy: focal lengths. computeNormalsSquareSupport receives z / 100 and multiplies it
    by 100 again, then forms X = (xx - cx) Z / fx, X / Z, X / Z^2 and 1 / Z. Plain
    arithmetic: tensors here, scalars in the numba kernels (geometry.hha_cpu), both round
    alike. Returns a tuple in the order of :func:`moment_planes`.
    """
    z = (depth_cm / 100.0) * 100.0
    x = (du * z) / fx
    y = (dv * z) / fy
    x_z, y_z, z_z = x / z, y / z, z * z
    return (x_z * x_z, x_z * y_z, x_z, y_z * y_z, y_z, z / z, x / z_z, y / z_z, 1.0 / z)


class ReferenceTerms:
    """
    The :func:`reference_moment_terms` of one frame's pixels, computed for the pixels asked.

    Only sparse windows need them (see :func:`window_sums`), so no full-frame planes are
    made. depth_cm: (H, W) float64 cm; valid: (H, W) bool; du: (1, W), dv: (H, 1) offsets
    from the principal point (pixels); fx, fy: focal lengths.
    """

    def __init__(self, depth_cm, valid, du, dv, fx, fy):
        self.depth_cm, self.valid, self.du, self.dv = depth_cm, valid, du, dv
        self.fx, self.fy = fx, fy

    def valid_at(self, rows, cols):
        """Return whether pixels (int tensors of one shape, maybe outside the image) are valid."""
        height, width = self.valid.shape
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        return inside & self.valid[rows.clamp(0, height - 1), cols.clamp(0, width - 1)]

    def at(self, rows, cols):
        """Return the (9, *shape) terms of pixels (rows, cols); zeros where not valid_at."""
        height, width = self.valid.shape
        rows, cols, valid = rows.clamp(0, height - 1), cols.clamp(0, width - 1), \
            self.valid_at(rows, cols)
        depth_cm = torch.where(valid, self.depth_cm[rows, cols], 1.0)
        terms = reference_moment_terms(depth_cm, self.du[0, cols], self.dv[rows, 0], self.fx,
                                       self.fy)
        return torch.stack(torch.broadcast_tensors(*terms)).mul_(valid.to(torch.float64))


def window_sums(planes, radius, reference):
    """
    Sum the moment planes over (2r+1) x (2r+1) windows as MATLAB's ``filter2`` does.

    planes: (9, H, W) float64 from :func:`moment_planes`; reference: the frame's
    :class:`ReferenceTerms` (the same terms computed as the reference does). Returns
    (9, H, W) float64. Dense windows take running sums (:func:`box_sum`) of ``planes``:
    their fits are well determined, so the last bits do not matter. Windows of at most
    :func:`sparse_limit` valid pixels are where rounding decides the fit (an empty window
    must give exact zeros, an undefined normal, and one whose pixels lie on one image line
    gives rounding noise): they are summed directly (:func:`direct_sums`). Counts of 0/1
    weights are exact in any summation.
    """
    sums = box_sum(planes, radius)
    count = sums[COUNT_TERM]
    sums.masked_fill_((count == 0).expand_as(sums), 0.0)
    rows, cols = torch.nonzero((count > 0) & (count <= sparse_limit(radius)), as_tuple=True)
    for start in range(0, rows.numel(), DIRECT_CHUNK):
        chunk = slice(start, start + DIRECT_CHUNK)
        sums[:, rows[chunk], cols[chunk]] = direct_sums(reference, rows[chunk], cols[chunk],
                                                        radius)
    return sums


#: Sparse windows summed per batch (bounds the (K, (2r+1)^2) index tensors to ~15 MB).
DIRECT_CHUNK = 4096


def direct_sums(reference, rows, cols, radius):
    """
    Return the (9, K) sums of K sparse windows, pixel after pixel in MATLAB's memory order.

    reference: :class:`ReferenceTerms`; rows, cols: (K,) window centres. The window's pixels
    are listed column by column (each from the top), the valid ones moved to the front in
    that order by a stable sort, and the terms of the first sparse_limit of them added one
    at a time: zeros after them change no sum.
    """
    side = 2 * radius + 1
    offsets = torch.arange(side, device=rows.device) - radius
    down, across = offsets.repeat(side), offsets.repeat_interleave(side)  # column-major
    pixel_rows, pixel_cols = rows[:, None] + down, cols[:, None] + across
    valid = reference.valid_at(pixel_rows, pixel_cols)
    first = torch.argsort((~valid).to(torch.uint8), dim=1, stable=True)[:, :sparse_limit(radius)]
    terms = reference.at(pixel_rows.gather(1, first), pixel_cols.gather(1, first))
    sums = torch.zeros(terms.shape[:2], dtype=terms.dtype, device=terms.device)
    for index in range(terms.shape[2]):
        sums += terms[:, :, index]
    return sums


def unit_normals(sums):
    """
    Solve the 3x3 normal equations per pixel; (3, H, W) unit normals of either sign.

    sums: (9, H, W) window sums of :func:`moment_planes`. NaN where the window holds no
    valid point. The sign is arbitrary: see :func:`oriented_normals`.
    """
    nx, ny, nz = adjugate_solution(*sums.unbind(0))
    return torch.stack((nx, ny, nz)).div_((nx * nx + ny * ny + nz * nz).sqrt_())


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
