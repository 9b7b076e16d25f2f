"""
Point clouds for the pose stage: support planes by RANSAC and batched ICP.

Points are (N, 3) float64 metres in the camera optical frame (x right, y down, z forward), as
:func:`rgbd_perception.geometry.camera.back_project` returns them; rigid fits use RoMa.
"""

import math

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


class NearestModelPoints:
    """
    Nearest points of one model for query points given in the model's frame.

    model_points: (M, 3) float64 tensor, metres in the model frame. brute_force: None picks
    by the points' device: on the CPU one SciPy KD-tree built here, once per object (ICP
    moves the scene points into the model frame instead of rebuilding a tree of moved model
    points); on a GPU a brute-force distance matrix, which a GPU computes faster than it
    walks a tree. Both give the same pairs (tested).
    """

    def __init__(self, model_points, brute_force=None):
        self.points = model_points
        if brute_force is None:
            brute_force = model_points.device.type != 'cpu'
        self.tree = None if brute_force else cKDTree(model_points.cpu().numpy())

    def __call__(self, queries, limit):
        """
        Return (distances, indices) of the nearest model point of each (..., 3) query.

        Both have the queries' leading shape; beyond ``limit`` metres the distance is inf and
        the index M (one past the last point), as SciPy reports it.
        """
        flat = queries.reshape(-1, 3)
        if self.tree is not None:
            # One thread: a few thousand queries do not pay for starting SciPy's workers
            # (measured: 2 workers made ICP ~25 % slower on 2 cores).
            distances, indices = self.tree.query(flat.cpu().numpy(), distance_upper_bound=limit)
            distances, indices = (torch.from_numpy(array).to(queries.device)
                                  for array in (distances, indices))
        else:
            distances, indices = torch.cdist(flat, self.points).min(dim=1)
            far = distances > limit
            distances = distances.masked_fill(far, math.inf)
            indices = indices.masked_fill(far, len(self.points))
        return distances.reshape(queries.shape[:-1]), indices.reshape(queries.shape[:-1])


def to_model_frame(scene_points, rotations, translations):
    """Return (K, S, 3) points R_k^T (s - t_k) of (S, 3) points under K poses (K, 3, 3), (K, 3)."""
    return (scene_points[None] - translations[:, None]) @ rotations


def icp(nearest, scene_points, rotations, translations, iterations=20, max_distance=0.02,
        min_pairs=10):
    """
    Refine K model-to-camera poses at once by point-to-point ICP; return (R, t).

    nearest: :class:`NearestModelPoints` of the model; scene_points: (S, 3) float64 tensor,
    camera-frame points of the object (the model's device); rotations (K, 3, 3), translations
    (K, 3): the starting poses. Each iteration pairs every scene point with its nearest posed
    model point, keeps the pairs within the hypothesis' distance limit (``max_distance``
    metres at first, then 3 x the pairs' RMS, not below 1 mm) and solves all K rigid fits in
    one batch (RoMa). A hypothesis stops with fewer than ``min_pairs`` pairs, or when its
    pairs and limit repeat (a fixed point: the same fit again), and the loop when all have.
    Returns the refined (K, 3, 3) rotations and (K, 3) translations.
    """
    model = torch.cat((nearest.points, nearest.points.new_zeros(1, 3)))  # index M: no pair
    count, device = len(rotations), scene_points.device
    rotations, translations = rotations.clone(), translations.clone()
    limits = torch.full((count,), float(max_distance), dtype=torch.float64, device=device)
    previous_pairs = torch.full((count, len(scene_points)), -2, device=device)
    active = torch.ones(count, dtype=torch.bool, device=device)
    for _ in range(iterations):
        rows = torch.nonzero(active).squeeze(1)  # stopped hypotheses cost nothing more
        if not len(rows):
            break
        start_r, start_t, limit = rotations[rows], translations[rows], limits[rows]
        distances, indices = nearest(to_model_frame(scene_points, start_r, start_t),
                                     float(limit.max()))
        paired = distances <= limit[:, None]
        pair_count = paired.sum(dim=1)
        enough = pair_count >= min_pairs
        fitted_r, fitted_t = roma.rigid_points_registration(
            model[indices], scene_points.expand(len(rows), -1, -1), weights=paired.double())
        rotations[rows] = torch.where(enough[:, None, None], fitted_r, start_r)
        translations[rows] = torch.where(enough[:, None], fitted_t, start_t)
        squared = torch.where(paired, distances, 0.0).square().sum(dim=1)
        rms = torch.sqrt(squared / pair_count.clamp(min=1))
        new_limit = torch.where(enough, torch.clamp(torch.minimum(limit, 3.0 * rms), min=1e-3),
                                limit)
        pairs = torch.where(paired, indices, -1)
        # The same pairs at the same limit give the same fit again: a fixed point.
        repeated = (pairs == previous_pairs[rows]).all(dim=1) & (new_limit == limit)
        previous_pairs[rows], limits[rows] = pairs, new_limit
        active[rows] = enough & ~repeated
    return rotations, translations


def inlier_shares(nearest, scene_points, rotations, translations, distance):
    """Return the (K,) shares of (S, 3) scene points within ``distance`` m of each posed model."""
    distances, _ = nearest(to_model_frame(scene_points, rotations, translations), distance)
    return torch.isfinite(distances).double().mean(dim=1)
