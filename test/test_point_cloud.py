"""Point-cloud geometry of the pose stage: RANSAC planes, batched ICP."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch

from rgbd_perception.geometry.point_cloud import (fit_plane_ransac, icp, inlier_shares,
                                                  NearestModelPoints)
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import share_path


def test_ransac_finds_the_table_among_outliers():
    """A tilted plane with 40 % off-plane points: normal and offset to 1e-3, towards the camera."""
    rng = np.random.default_rng(1)
    normal = np.array([0.0, -0.8, -0.6])
    plane = rng.uniform(-0.5, 0.5, (600, 2))
    basis = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, -0.8]])
    points = plane @ basis + 1.2 * -normal
    points += rng.normal(0, 0.002, points.shape) * normal
    clutter = rng.uniform([-0.5, -0.5, 0.5], [0.5, 0.5, 1.5], (400, 3))
    found, offset, inliers = fit_plane_ransac(np.concatenate([points, clutter]), 0.01,
                                              rng=np.random.default_rng(0))
    np.testing.assert_allclose(found, normal, atol=1e-3)
    assert offset == pytest.approx(1.2, abs=1e-3)
    assert inliers[:600].mean() > 0.99 and inliers[600:].mean() < 0.1
    with pytest.raises(ValueError):
        fit_plane_ransac(points[:2])


def duck_scene():
    """Return (model points (M, 3), true R, true t, the camera-facing posed points (S, 3))."""
    mesh = load_catalogue(share_path('config', 'objects', 'demo.yaml'))[1000].mesh
    rotation = Rotation.from_euler('xyz', [20, -35, 60], degrees=True).as_matrix()
    translation = np.array([0.05, -0.02, 0.7])
    normals = mesh.normals @ rotation.T
    camera = mesh.vertices @ rotation.T + translation
    visible = camera[np.einsum('ij,ij->i', normals, camera) < 0]
    return (torch.from_numpy(mesh.vertices), torch.from_numpy(rotation),
            torch.from_numpy(translation), torch.from_numpy(visible))


def starting_poses(rotation, translation):
    """Return (3, 3, 3), (3, 3) starts: 8 deg and 1.5 cm off, 150 deg off, 6 deg and 5 mm off."""
    turns = Rotation.from_rotvec(np.radians([[4.8, 0.0, 6.4], [90.0, 120.0, 0.0],
                                             [0.0, 6.0, 0.0]])).as_matrix()
    rotations = torch.from_numpy(turns) @ rotation
    offsets = torch.tensor([[0.01, -0.01, 0.005], [0.0, 0.0, 0.0], [0.005, 0.0, 0.0]])
    return rotations, translation + offsets.double()


def test_batched_icp_refines_the_close_starts_of_a_mesh_from_its_visible_points():
    """The duck's camera-facing vertices: the close starts converge to under 1 mm."""
    vertices, rotation, translation, visible = duck_scene()
    nearest = NearestModelPoints(vertices)
    starts = starting_poses(rotation, translation)
    found_r, found_t = icp(nearest, visible, *starts, iterations=40)
    truth = vertices @ rotation.T + translation
    for index in (0, 2):
        moved = vertices @ found_r[index].T + found_t[index]
        assert (moved - truth).norm(dim=1).mean() < 1e-3
    shares = inlier_shares(nearest, visible, found_r, found_t, 0.002)
    assert shares[0] > 0.99 and shares[2] > 0.99 and shares[1] < 0.9
    assert (inlier_shares(nearest, visible, *starts, 0.002) < 0.5).all()


def test_each_hypothesis_is_refined_as_if_alone():
    """Batching changes nothing: each start alone gives its batched pose (to rounding)."""
    vertices, rotation, translation, visible = duck_scene()
    nearest = NearestModelPoints(vertices)
    rotations, translations = starting_poses(rotation, translation)
    batch_r, batch_t = icp(nearest, visible, rotations, translations)
    for index in range(3):
        alone_r, alone_t = icp(nearest, visible, rotations[index:index + 1],
                               translations[index:index + 1])
        torch.testing.assert_close(alone_r[0], batch_r[index], rtol=0, atol=1e-12)
        torch.testing.assert_close(alone_t[0], batch_t[index], rtol=0, atol=1e-12)


def test_converged_hypotheses_stop_at_their_fixed_point():
    """Stopping on repeated pairs gives what further iterations would give."""
    vertices, rotation, translation, visible = duck_scene()
    nearest = NearestModelPoints(vertices)
    starts = starting_poses(rotation, translation)
    short_r, short_t = icp(nearest, visible, *starts, iterations=60)
    long_r, long_t = icp(nearest, visible, *starts, iterations=200)
    close = [0, 2]  # the far start still slides after 60 iterations
    assert torch.equal(short_r[close], long_r[close])
    assert torch.equal(short_t[close], long_t[close])


def test_brute_force_search_pairs_as_the_tree():
    """The GPU search (a distance matrix), run on the CPU, finds the tree's nearest points."""
    vertices, _, _, _ = duck_scene()
    queries = torch.from_numpy(np.random.default_rng(4).normal(0.0, 0.03, (2, 300, 3)))
    tree_distances, tree_indices = NearestModelPoints(vertices)(queries, 0.01)
    brute_force = NearestModelPoints(vertices, brute_force=True)
    brute_distances, brute_indices = brute_force(queries, 0.01)
    assert torch.isfinite(tree_distances).sum() > 100 and torch.isinf(tree_distances).sum() > 100
    torch.testing.assert_close(brute_distances, tree_distances, rtol=0, atol=1e-12)
    model = torch.cat((vertices, torch.full((1, 3), math.nan)))  # the mesh repeats vertices
    found = torch.isfinite(tree_distances)
    assert torch.equal(model[brute_indices][found], model[tree_indices][found])
    assert torch.equal(brute_indices[~found], tree_indices[~found])


def test_brute_force_icp_refines_as_the_tree():
    """The GPU code path (distance-matrix pairs), run on the CPU, gives the tree's poses."""
    vertices, rotation, translation, visible = duck_scene()
    starts = starting_poses(rotation, translation)
    tree_r, tree_t = icp(NearestModelPoints(vertices), visible, *starts)
    brute_r, brute_t = icp(NearestModelPoints(vertices, brute_force=True), visible, *starts)
    torch.testing.assert_close(brute_r, tree_r, rtol=0, atol=1e-9)
    torch.testing.assert_close(brute_t, tree_t, rtol=0, atol=1e-9)
