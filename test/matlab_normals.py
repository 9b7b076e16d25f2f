"""
A test oracle: rgbdutils' ``computeNormalsSquareSupport`` re-derived in numpy, step by step.

Written from the MATLAB code's operations and order, independently of the package: the
point cloud of the depth given (cm) after its round trip through metres, NaN at missing
pixels, the nine terms X/Z, Y/Z, 1/Z, X/Z^2, Y/Z^2 (with X = (xx - cx) Z / fx), NaN set to
0, ``filter2`` with a (2r+1)^2 box as direct sums (each window summed pixel by pixel in
MATLAB's memory order: column by column from the left, each from the top; see README, HHA
exactness, for why this order), ``invertIt`` / ``mutiplyIt`` (the adjugate), the
normalisation and the two sign flips (n_z >= 0, then n . P >= 0 with the points of the
depth as given, also at missing pixels; sign(0) and sign(NaN) count as +1).
Slow (one pass per window offset): for tests on small or single frames.
"""

import numpy as np


def direct_window_sums(terms, radius):
    """Return (..., H, W) sums of (..., H, W) terms over (2r+1)^2 windows, zeros outside."""
    height, width = terms.shape[-2:]
    padded = np.zeros(terms.shape[:-2] + (height + 2 * radius, width + 2 * radius))
    padded[..., radius:radius + height, radius:radius + width] = terms
    sums = np.zeros(terms.shape)
    for du in range(2 * radius + 1):          # columns from the left
        for dv in range(2 * radius + 1):      # each column from the top
            sums += padded[..., dv:dv + height, du:du + width]
    return sums


def matlab_normals(depth_cm, missing, radius, cx, cy, fx, fy):
    """
    Return (3, H, W) oriented unit normals as computeNormalsSquareSupport, NaN where undefined.

    depth_cm: (H, W) float64 cm (processDepthImage's z: metres * 100); missing: (H, W) bool;
    cx, cy, fx, fy: 1-based intrinsics (MATLAB's pixel coordinates).
    """
    height, width = depth_cm.shape
    z = (depth_cm / 100) * 100                # computeNormalsSquareSupport(z ./ 100, ...) * 100
    xx, yy = np.meshgrid(np.arange(1, width + 1), np.arange(1, height + 1))
    x = (xx - cx) * z / fx
    y = (yy - cy) * z / fy
    points = np.stack([x, y, z])              # Xf, Yf, Zf: taken before the NaNs are set
    x, y, z = (np.where(missing, np.nan, value) for value in (x, y, z))
    with np.errstate(divide='ignore', invalid='ignore'):
        x_z, y_z = x / z, y / z
        one = np.where(np.isnan(z), np.nan, 1.0)
        terms = np.stack([x_z * x_z, x_z * y_z, x_z, y_z * y_z, y_z, one,
                          x / (z * z), y / (z * z), 1 / z])
        terms[np.isnan(terms)] = 0
        a = direct_window_sums(terms, radius)
        # invertIt's A, D, G, E, H, K (MATLAB's a(k) is a[k - 1] here)
        adj = (a[3] * a[5] - a[4] * a[4], -(a[1] * a[5] - a[2] * a[4]),
               a[1] * a[4] - a[2] * a[3], a[0] * a[5] - a[2] * a[2],
               -(a[0] * a[4] - a[1] * a[2]), a[0] * a[3] - a[1] * a[1])
        b = a[6:]
        normals = np.stack([adj[0] * b[0] + adj[1] * b[1] + adj[2] * b[2],
                            adj[1] * b[0] + adj[3] * b[1] + adj[4] * b[2],
                            adj[2] * b[0] + adj[4] * b[1] + adj[5] * b[2]])
        normals = normals / np.sqrt((normals ** 2).sum(0))
        flip = np.sign(normals[2])
        flip[flip == 0] = 1
        normals = normals * flip
        flip = np.sign((normals * points).sum(0))
        flip[np.isnan(flip) | (flip == 0)] = 1
    return normals * flip
