"""Point-cloud geometry of the pose stage: RANSAC planes, rigid fits, ICP."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rgbd_perception.geometry.point_cloud import fit_plane_ransac, icp, inlier_share, rigid_fit
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


def test_rigid_fit_recovers_a_transform():
    """Kabsch/Umeyama via RoMa: exact for noise-free correspondences."""
    rng = np.random.default_rng(2)
    source = rng.normal(size=(50, 3))
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    found_r, found_t = rigid_fit(source, source @ rotation.T + [0.1, 0.2, 0.3])
    np.testing.assert_allclose(found_r, rotation, atol=1e-10)
    np.testing.assert_allclose(found_t, [0.1, 0.2, 0.3], atol=1e-10)


def test_icp_refines_a_perturbed_pose_of_a_mesh_from_its_visible_points():
    """The duck's camera-facing vertices: 8 degrees and 1.5 cm off converge to under 1 mm."""
    mesh = load_catalogue(share_path('config', 'objects', 'demo.yaml'))[1000].mesh
    rotation = Rotation.from_euler('xyz', [20, -35, 60], degrees=True).as_matrix()
    translation = np.array([0.05, -0.02, 0.7])
    normals = mesh.normals @ rotation.T
    camera = mesh.vertices @ rotation.T + translation
    visible = camera[np.einsum('ij,ij->i', normals, camera) < 0]
    start_r = Rotation.from_rotvec(np.radians(8) * np.array([0.6, 0.0, 0.8])).as_matrix() \
        @ rotation
    start_t = translation + [0.01, -0.01, 0.005]
    found_r, found_t, rms = icp(mesh.vertices, visible, start_r, start_t, iterations=40)
    moved = mesh.vertices @ found_r.T + found_t
    truth = mesh.vertices @ rotation.T + translation
    assert np.linalg.norm(moved - truth, axis=1).mean() < 1e-3
    assert rms < 1e-3
    assert inlier_share(mesh.vertices, visible, found_r, found_t, 0.002) > 0.99
    assert inlier_share(mesh.vertices, visible, start_r, start_t, 0.002) < 0.5
