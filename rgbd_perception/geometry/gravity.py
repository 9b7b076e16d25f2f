"""Gravity direction from surface normals (Gupta et al., 2014, ``getYDir``)."""

import math

import numpy as np
import torch


def outer_products(flat):
    """Return the (6, P) products xx, xy, xz, yy, yz, zz of (3, P) vectors."""
    return torch.stack((flat[0] * flat[0], flat[0] * flat[1], flat[0] * flat[2],
                        flat[1] * flat[1], flat[1] * flat[2], flat[2] * flat[2]))


def normal_products(normals):
    """
    Return (3, P) normals with NaN set to 0 and their (6, P) outer products.

    Zeroed normals weigh nothing in the sums.
    """
    flat = torch.nan_to_num(normals.reshape(3, -1), nan=0.0)
    return flat, outer_products(flat)


def wall_minus_floor_weights(similarity, sin_t, cos_t):
    """Return +1 for walls (|n . y| < sin_t), -1 for floors (|n . y| > cos_t), else 0."""
    return (similarity < sin_t).to(torch.float64) - (similarity > cos_t).to(torch.float64)


def classify_normals(flat, y, sin_t, cos_t, band):
    """
    Classify (3, P) normals against the direction y ((3,) tensor).

    Returns (P,) float64 weights of :func:`wall_minus_floor_weights` and a (P,) bool mask
    of the normals whose |n . y| lies within ``band`` of either threshold.
    """
    similarity = (y @ flat).abs()
    near = ((similarity - sin_t).abs() <= band) | ((similarity - cos_t).abs() <= band)
    return wall_minus_floor_weights(similarity, sin_t, cos_t), near


def symmetric_matrix(entries):
    """Return the (3, 3) numpy matrix of the 6 entries xx, xy, xz, yy, yz, zz (tensor or numpy)."""
    xx, xy, xz, yy, yz, zz = (entries.cpu().numpy() if isinstance(entries, torch.Tensor)
                              else entries)
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


class TorchWallFloorPasses:
    """
    The classification passes of :class:`WallFloorMoments` in torch (any device).

    products: (6, P) outer products of the normals (:func:`normal_products`); classify:
    :func:`classify_normals` or a compiled version of it.
    """

    def __init__(self, products, classify=classify_normals):
        self.products, self.classify = products, classify

    def full(self, flat, y, sin_t, cos_t, band):
        """
        Classify all (3, P) normals ``flat`` against y ((3,) numpy); see WallFloorMoments.

        Returns the (6,) entries of sum_wall n n^T - sum_floor n n^T and the near state:
        the normals within ``band`` of a threshold, their products and weights
        (:func:`wall_minus_floor_weights`).
        """
        weights, near = self.classify(flat, torch.as_tensor(y, device=flat.device), sin_t,
                                      cos_t, band)
        indices = torch.nonzero(near).squeeze(1)
        near_flat = torch.index_select(flat, 1, indices)
        return self.products @ weights, (near_flat, outer_products(near_flat),
                                         torch.index_select(weights, 0, indices))

    @staticmethod
    def update(near, y, sin_t, cos_t):
        """Return the (6,) change of the entries when the near normals are classified at y."""
        near_flat, near_products, near_weights = near
        weights, _ = classify_normals(near_flat, torch.as_tensor(y, device=near_flat.device),
                                      sin_t, cos_t, 0.0)
        return near_products @ (weights - near_weights)


class WallFloorMoments:
    """
    The matrix sum_wall n n^T - sum_floor n n^T of one stage, for successive y.

    A full pass over all P normals classifies them at a reference y and remembers the
    normals within ``band`` of a threshold. While later y stay within ``band`` of the
    reference, no other normal can change class (|n . y| moves by at most |y - y_ref|),
    so only the remembered ones are re-classified and the sum updated: the same
    classification as a full pass, at a fraction of the cost.
    flat: (3, P) float64 normals (NaN set to 0); passes: :class:`TorchWallFloorPasses` for
    torch tensors, or the compiled CPU passes of geometry.hha_cpu for numpy arrays (objects
    with ``full(flat, y, sin_t, cos_t, band)`` -> (entries, near state) and
    ``update(near state, y, sin_t, cos_t)`` -> change of the entries).
    """

    def __init__(self, flat, passes, sin_t, cos_t, band=0.02):
        self.flat, self.passes = flat, passes
        self.sin_t, self.cos_t, self.band = sin_t, cos_t, band
        self.reference_y = None

    def __call__(self, y):
        """Return the (3, 3) float64 numpy matrix for the unit direction y ((3,) numpy)."""
        if (self.reference_y is not None
                and np.linalg.norm(y - self.reference_y) < self.band - 1e-9):
            return symmetric_matrix(self.reference_entries
                                    + self.passes.update(self.near, y, self.sin_t, self.cos_t))
        self.reference_entries, self.near = self.passes.full(self.flat, y, self.sin_t,
                                                             self.cos_t, self.band)
        self.reference_y = np.array(y, dtype=np.float64)
        return symmetric_matrix(self.reference_entries)


def estimate_gravity(normals, initial=(0.0, 1.0, 0.0), thresholds_deg=(45.0, 15.0),
                     iterations=(5, 5)):
    """
    Estimate the gravity direction (pointing down) in the camera optical frame.

    normals: (3, H, W) float64 unit normals, NaN where undefined. Returns a (3,) float64
    numpy unit vector; see :func:`gravity_from_normals`.
    """
    flat, products = normal_products(normals)
    return gravity_from_normals(flat, TorchWallFloorPasses(products), initial=initial,
                                thresholds_deg=thresholds_deg, iterations=iterations)


def gravity_from_normals(flat, passes, initial=(0.0, 1.0, 0.0),
                         thresholds_deg=(45.0, 15.0), iterations=(5, 5)):
    """
    Estimate gravity from (3, P) normals with NaN set to 0 (reference ``getYDir``).

    passes: the classification passes of :class:`WallFloorMoments`.
    Each iteration sets y to the eigenvector of sum_wall n n^T - sum_floor n n^T with the
    smallest eigenvalue, keeping the sign of the previous y. An iteration that leaves y
    unchanged is a fixed point, so the rest of its stage is skipped (it would repeat it
    exactly). Returns a (3,) float64 numpy unit vector.
    """
    y = np.asarray(initial, dtype=np.float64)
    for threshold, count in zip(thresholds_deg, iterations):
        matrix_of = WallFloorMoments(flat, passes, math.sin(math.radians(threshold)),
                                     math.cos(math.radians(threshold)))
        for _ in range(count):
            eigenvalues, eigenvectors = np.linalg.eigh(matrix_of(y))
            candidate = eigenvectors[:, np.argmin(eigenvalues)]
            if y @ candidate < 0:
                candidate = -candidate
            converged = np.array_equal(candidate, y)
            y = candidate
            if converged:
                break
    return y


def rotation_between(y_from, y_to, min_angle_deg=0.1):
    """
    Rotation matrix taking unit vector y_from to y_to (Rodrigues), (3, 3) float64.

    Angles of at most ``min_angle_deg`` give the identity, as in the reference
    ``getRMatrix``.
    """
    y_from = np.asarray(y_from, dtype=np.float64) / np.linalg.norm(y_from)
    y_to = np.asarray(y_to, dtype=np.float64) / np.linalg.norm(y_to)
    angle_deg = math.degrees(math.acos(float(np.clip(y_from @ y_to, -1.0, 1.0))))
    if abs(angle_deg) <= min_angle_deg:
        return np.eye(3)
    axis = np.cross(y_from, y_to)
    if np.linalg.norm(axis) < 1e-12:
        # Opposite vectors: any axis perpendicular to y_from turns it by 180 degrees.
        least_aligned = np.eye(3)[np.argmin(np.abs(y_from))]
        axis = np.cross(y_from, least_aligned)
        axis = axis / np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    axis = axis / np.linalg.norm(axis)
    skew = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                     [-axis[1], axis[0], 0.0]])
    angle = math.radians(angle_deg)
    return np.eye(3) + math.sin(angle) * skew + (1.0 - math.cos(angle)) * (skew @ skew)
