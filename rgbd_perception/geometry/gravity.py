"""Gravity direction from surface normals (Gupta et al., 2014, ``getYDir``)."""

import math

import numpy as np
import torch


def normal_outer_products(normals):
    """Return ((3, P) normals with NaN -> 0, (6, P) products xx, xy, xz, yy, yz, zz)."""
    flat = torch.nan_to_num(normals.reshape(3, -1), nan=0.0)  # zero normals weigh nothing
    outer = torch.stack((flat[0] * flat[0], flat[0] * flat[1], flat[0] * flat[2],
                         flat[1] * flat[1], flat[1] * flat[2], flat[2] * flat[2]))
    return flat, outer


def wall_minus_floor_weights(similarity, sin_t, cos_t):
    """Return +1 for walls (|n . y| < sin_t), -1 for floors (|n . y| > cos_t), else 0."""
    return (similarity < sin_t).to(torch.float64) - (similarity > cos_t).to(torch.float64)


def abs_similarity(flat, y):
    """Return |n . y| of (3, P) normals and a (3,) tensor y, evaluated the same everywhere."""
    return (flat[0] * y[0] + flat[1] * y[1] + flat[2] * y[2]).abs()


class WallFloorMoments:
    """
    Six entries of sum_wall n n^T - sum_floor n n^T for one stage, for successive y.

    A full pass over all P normals classifies them at a reference y and remembers the
    normals within ``band`` of a threshold. While later y stay within ``band`` of the
    reference, no other normal can change class (|n . y| moves by at most |y - y_ref|),
    so only the remembered ones are re-classified and the sums updated: the same
    classification as a full pass, at a fraction of the cost.
    """

    def __init__(self, flat, outer, sin_t, cos_t, band=0.05):
        self.flat, self.outer = flat, outer
        self.sin_t, self.cos_t, self.band = sin_t, cos_t, band
        self.reference_y = None

    def __call__(self, y):
        """Return the (6,) float64 numpy moments for the unit direction y ((3,) numpy)."""
        y_tensor = torch.as_tensor(y, device=self.flat.device)
        if (self.reference_y is not None
                and np.linalg.norm(y - self.reference_y) < self.band - 1e-9):
            weights = wall_minus_floor_weights(abs_similarity(self.near_flat, y_tensor),
                                               self.sin_t, self.cos_t)
            return (self.reference_moments
                    + self.near_outer @ (weights - self.near_weights)).cpu().numpy()
        similarity = abs_similarity(self.flat, y_tensor)
        weights = wall_minus_floor_weights(similarity, self.sin_t, self.cos_t)
        near = torch.nonzero(((similarity - self.sin_t).abs() <= self.band)
                             | ((similarity - self.cos_t).abs() <= self.band)).squeeze(1)
        self.near_flat = self.flat[:, near]
        self.near_outer = self.outer[:, near]
        self.near_weights = weights[near]
        self.reference_moments = self.outer @ weights
        self.reference_y = np.array(y, dtype=np.float64)
        return self.reference_moments.cpu().numpy()


def estimate_gravity(normals, initial=(0.0, 1.0, 0.0), thresholds_deg=(45.0, 15.0),
                     iterations=(5, 5)):
    """
    Estimate the gravity direction (pointing down) in the camera optical frame.

    normals: (3, H, W) float64 unit normals, NaN where undefined. Each iteration sets y to
    the eigenvector of sum_wall n n^T - sum_floor n n^T with the smallest eigenvalue,
    keeping the sign of the previous y. An iteration that leaves y unchanged is a fixed
    point, so the rest of its stage is skipped (it would repeat it exactly).
    Returns a (3,) float64 numpy unit vector.
    """
    flat, outer = normal_outer_products(normals)
    y = np.asarray(initial, dtype=np.float64)
    for threshold, count in zip(thresholds_deg, iterations):
        moments = WallFloorMoments(flat, outer, math.sin(math.radians(threshold)),
                                   math.cos(math.radians(threshold)))
        for _ in range(count):
            m = moments(y)
            matrix = np.array([[m[0], m[1], m[2]], [m[1], m[3], m[4]], [m[2], m[4], m[5]]])
            eigenvalues, eigenvectors = np.linalg.eigh(matrix)
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
