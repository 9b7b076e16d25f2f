"""Surface normals by least-squares plane fits in square windows (Gupta et al., 2014).

For every pixel the plane n . [X/Z, Y/Z, 1] = 1/Z is fitted to the valid points of the
(2r+1) x (2r+1) window around it, with the sums of the normal equations taken by box
filters (missing pixels and pixels outside the image contribute zero). This is the
reference ``computeNormalsSquareSupport`` of rgbdutils, including its orientation rule.
"""

import torch

from rgbd_perception.geometry.box_filter import box_sum


def _moment_planes(depth_cm, valid, a, b):
    """Stack the 9 per-pixel terms of A^T A (6) and A^T b (3); (9, H, W) float64."""
    height, width = depth_cm.shape
    weight = valid.to(torch.float64)
    inv_z = weight / torch.where(valid, depth_cm, 1.0)
    a_w = a * weight
    b_w = b * weight
    planes = torch.empty((9, height, width), dtype=torch.float64, device=depth_cm.device)
    torch.mul(a, a_w, out=planes[0])
    torch.mul(a, b_w, out=planes[1])
    planes[2] = a_w
    torch.mul(b, b_w, out=planes[3])
    planes[4] = b_w
    planes[5] = weight
    torch.mul(a, inv_z, out=planes[6])
    torch.mul(b, inv_z, out=planes[7])
    planes[8] = inv_z
    return planes


def _solve_oriented(sums, points):
    """Solve the 3x3 normal equations per pixel and orient the unit normals.

    sums: (9, H, W) window sums; points: (3, H, W) camera-frame points (all pixels, cm).
    Returns (3, H, W) unit normals with n_z >= 0 flipped so that n . P >= 0, NaN where the
    window holds no valid point.
    """
    a0, a1, a2, a3, a4, a5, b0, b1, b2 = sums.unbind(0)
    # Adjugate of the symmetric matrix [[a0 a1 a2] [a1 a3 a4] [a2 a4 a5]]: the solution up
    # to the positive factor 1/det, which the normalisation removes (as in the reference).
    c0 = a3 * a5 - a4 * a4
    c1 = a2 * a4 - a1 * a5
    c2 = a1 * a4 - a2 * a3
    c3 = a0 * a5 - a2 * a2
    c4 = a1 * a2 - a0 * a4
    c5 = a0 * a3 - a1 * a1
    nx = c0 * b0 + c1 * b1 + c2 * b2
    ny = c1 * b0 + c3 * b1 + c4 * b2
    nz = c2 * b0 + c4 * b1 + c5 * b2
    scale = (nx * nx + ny * ny + nz * nz).rsqrt()
    # Reference orientation: flip to n_z >= 0 (sign 0 counts as +), then to n . P >= 0.
    scale = torch.where(nz < 0, -scale, scale)
    normals = torch.stack((nx, ny, nz)) * scale
    facing = (normals * points).sum(0)
    return torch.where(facing < 0, -normals, normals)


def plane_normals(depth_cm, valid, a, b, radii):
    """Fit normals for each window radius in ``radii``.

    depth_cm: (H, W) float64 depth in centimetres (any value where invalid); valid: (H, W)
    bool; a, b: ray slopes from :func:`rgbd_perception.geometry.camera.ray_slopes`.
    Returns a list of (3, H, W) float64 unit normals (camera optical frame), one per radius,
    and the (3, H, W) point cloud in centimetres built from the unmasked depth.
    """
    points = torch.stack((a * depth_cm, b * depth_cm, depth_cm))
    planes = _moment_planes(depth_cm, valid, a, b)
    return [_solve_oriented(box_sum(planes, r), points) for r in radii], points
