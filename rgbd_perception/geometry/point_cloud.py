"""
Point clouds for the pose stage: support planes by RANSAC, rigid fits and ICP.

Points are (N, 3) float64 metres in the camera optical frame (x right, y down, z forward), as
:func:`rgbd_perception.geometry.camera.back_project` returns them; rigid fits use RoMa.
"""

import numpy as np
import roma
from scipy.spatial import cKDTree
import torch


def fit_plane_ransac(points, threshold=0.01, iterations=200, rng=None):
    """
    Return (unit normal (3,), offset d, inlier mask (N,)) of the dominant plane n.p + d = 0.

    RANSAC over random point triples, then a least-squares refit on the inliers (the normal
    is the smallest principal axis).  threshold: inlier distance in metres.  The normal
    points towards the camera (d > 0 for a plane in front of it).  Raises ValueError for
    fewer than 3 points.
    """
    points = np.asarray(points, np.float64)
    if len(points) < 3:
        raise ValueError('a plane needs at least 3 points')
    rng = np.random.default_rng(0) if rng is None else rng
    triples = points[rng.integers(0, len(points), (iterations, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    keep = lengths > 1e-12
    normals = normals[keep] / lengths[keep, None]
    offsets = -np.einsum('ij,ij->i', normals, triples[keep, 0])
    sample = points[rng.integers(0, len(points), min(len(points), 2000))]
    scores = (np.abs(sample @ normals.T + offsets) < threshold).sum(axis=0)
    best = int(np.argmax(scores))
    inliers = np.abs(points @ normals[best] + offsets[best]) < threshold
    centre = points[inliers].mean(axis=0)
    normal = np.linalg.eigh(np.cov((points[inliers] - centre).T))[1][:, 0]
    offset = -float(normal @ centre)
    if offset < 0:
        normal, offset = -normal, -offset
    inliers = np.abs(points @ normal + offset) < threshold
    return normal, offset, inliers


def rigid_fit(source, target):
    """Return (R (3, 3), t (3,)) minimising sum |R source_i + t - target_i|^2 (RoMa)."""
    rotation, translation = roma.rigid_points_registration(
        torch.from_numpy(np.asarray(source, np.float64)),
        torch.from_numpy(np.asarray(target, np.float64)))
    return rotation.numpy(), translation.numpy()


def icp(model_points, scene_points, rotation, translation, iterations=20, max_distance=0.02,
        min_pairs=10):
    """
    Refine a model-to-camera pose by point-to-point ICP; return (R, t, inlier RMS metres).

    model_points: (M, 3) metres in the model frame; scene_points: (S, 3) camera-frame points
    of the object; rotation (3, 3), translation (3,): the initial pose.  Each iteration pairs
    every scene point with its nearest transformed model point and keeps the pairs within
    max_distance (metres; it shrinks to 3 x the pairs' RMS as the fit converges, not below
    1 mm); iterations stop when fewer than min_pairs pairs remain.  The RMS is that of the
    final pose's pairs (inf without min_pairs pairs).
    """
    rotation = np.asarray(rotation, np.float64)
    translation = np.asarray(translation, np.float64)
    model_points = np.asarray(model_points, np.float64)
    scene_points = np.asarray(scene_points, np.float64)

    def pairs(limit):
        moved = model_points @ rotation.T + translation
        distances, nearest = cKDTree(moved).query(scene_points, distance_upper_bound=limit)
        paired = np.isfinite(distances)
        return moved, nearest, paired, distances

    for _ in range(iterations):
        moved, nearest, paired, distances = pairs(max_distance)
        if paired.sum() < min_pairs:
            break
        delta_r, delta_t = rigid_fit(moved[nearest[paired]], scene_points[paired])
        rotation, translation = delta_r @ rotation, delta_r @ translation + delta_t
        rms = float(np.sqrt(np.mean(distances[paired] ** 2)))
        max_distance = max(min(max_distance, 3.0 * rms), 1e-3)
    _, _, paired, distances = pairs(max_distance)
    rms = float(np.sqrt(np.mean(distances[paired] ** 2))) if paired.sum() >= min_pairs \
        else np.inf
    return rotation, translation, rms


def inlier_share(model_points, scene_points, rotation, translation, distance):
    """Return the share of scene points within ``distance`` m of the posed model points."""
    moved = np.asarray(model_points, np.float64) @ np.asarray(rotation).T + translation
    distances, _ = cKDTree(moved).query(np.asarray(scene_points, np.float64),
                                        distance_upper_bound=distance)
    return float(np.isfinite(distances).mean())
