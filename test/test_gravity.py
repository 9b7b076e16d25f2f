"""Tests for rgbd_perception.geometry.gravity (rotation_between, estimate_gravity)."""

import math

import numpy as np
import pytest
import torch

from rgbd_perception.geometry.gravity import (estimate_gravity, normal_products,
                                              rotation_between, TorchWallFloorPasses,
                                              WallFloorMoments)


def random_unit_vectors(count, seed):
    """Return ``count`` deterministic random unit vectors, shape (count, 3)."""
    vectors = np.random.default_rng(seed).standard_normal((count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rotate_about(vector, axis, angle_deg):
    """Rotate ``vector`` about unit ``axis`` by ``angle_deg`` (Rodrigues, independent)."""
    angle = math.radians(angle_deg)
    return (vector * math.cos(angle) + np.cross(axis, vector) * math.sin(angle)
            + axis * (axis @ vector) * (1.0 - math.cos(angle)))


def unit(vector):
    """Return ``vector`` scaled to unit length as float64."""
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


# --- rotation_between -------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(5))
def test_rotation_maps_from_onto_to(seed):
    """R @ y_from equals y_to for random unit vectors."""
    y_from, y_to = random_unit_vectors(2, seed)
    rotation = rotation_between(y_from, y_to)
    np.testing.assert_allclose(rotation @ y_from, y_to, atol=1e-12)


@pytest.mark.parametrize('seed', range(5))
def test_rotation_is_proper(seed):
    """R is orthonormal with determinant +1."""
    y_from, y_to = random_unit_vectors(2, seed + 100)
    rotation = rotation_between(y_from, y_to)
    assert rotation.shape == (3, 3)
    assert rotation.dtype == np.float64
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)


def test_rotation_keeps_the_axis_fixed():
    """The rotation axis y_from x y_to is left unchanged (shortest rotation)."""
    y_from, y_to = random_unit_vectors(2, 42)
    axis = unit(np.cross(y_from, y_to))
    np.testing.assert_allclose(rotation_between(y_from, y_to) @ axis, axis, atol=1e-12)


def test_rotation_normalises_its_inputs():
    """Non-unit inputs give the same rotation as their unit vectors."""
    y_from, y_to = random_unit_vectors(2, 9)
    np.testing.assert_allclose(rotation_between(3.0 * y_from, 0.25 * y_to),
                               rotation_between(y_from, y_to), atol=1e-12)


@pytest.mark.parametrize('angle_deg', [0.0, 0.01, 0.05, 0.0999])
def test_rotation_identity_for_tiny_angles(angle_deg):
    """Angles of at most 0.1 degree give exactly the identity."""
    y_from = unit([0.1, 0.9, -0.3])
    y_to = rotate_about(y_from, unit(np.cross(y_from, [1.0, 0.0, 0.0])), angle_deg)
    np.testing.assert_array_equal(rotation_between(y_from, y_to), np.eye(3))


def test_rotation_just_above_threshold_is_not_identity():
    """An angle just above 0.1 degree gives a real rotation."""
    y_from = unit([0.0, 1.0, 0.0])
    y_to = rotate_about(y_from, np.array([1.0, 0.0, 0.0]), 0.2)
    rotation = rotation_between(y_from, y_to)
    assert not np.array_equal(rotation, np.eye(3))
    np.testing.assert_allclose(rotation @ y_from, y_to, atol=1e-12)


def test_rotation_threshold_is_configurable():
    """min_angle_deg sets the identity threshold."""
    y_from = unit([0.0, 1.0, 0.0])
    y_to = rotate_about(y_from, np.array([0.0, 0.0, 1.0]), 3.0)
    np.testing.assert_array_equal(rotation_between(y_from, y_to, min_angle_deg=5.0), np.eye(3))
    np.testing.assert_allclose(rotation_between(y_from, y_to, min_angle_deg=1.0) @ y_from, y_to,
                               atol=1e-12)


@pytest.mark.parametrize('y_from', [[0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
def test_rotation_between_opposite_vectors_is_finite(y_from):
    """Opposite vectors (a camera upside down) give a finite proper 180-degree rotation."""
    y_from = np.asarray(y_from)
    rotation = rotation_between(y_from, -y_from)
    assert np.isfinite(rotation).all()
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation @ y_from, -y_from, atol=1e-12)


# --- estimate_gravity -------------------------------------------------------------------

TRUE_GRAVITY = unit([0.12, 0.93, -0.35])   # down, tilted: camera pitched and rolled


def synthetic_normals(gravity, seed=0, height=60, width=80, noise=0.02, nan_fraction=0.05):
    """
    Return (3, H, W) float64 normals: floor (-gravity) below, walls (perpendicular) above.

    The walls face four horizontal directions; normals get Gaussian noise and are
    renormalised, and a random ``nan_fraction`` of the pixels is NaN (all three components).
    """
    rng = np.random.default_rng(seed)
    # Two horizontal directions spanning the plane perpendicular to gravity.
    east = unit(np.cross(gravity, [0.0, 0.0, 1.0]))
    north = np.cross(gravity, east)
    normals = np.empty((height, width, 3))
    floor_rows = height // 2
    normals[floor_rows:] = -gravity
    walls = [east, north, -east, unit(east + north)]
    for index, wall in enumerate(walls):
        columns = slice(index * width // len(walls), (index + 1) * width // len(walls))
        normals[:floor_rows, columns] = wall
    normals += noise * rng.standard_normal(normals.shape)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    normals[rng.random((height, width)) < nan_fraction] = np.nan
    return torch.from_numpy(np.ascontiguousarray(normals.transpose(2, 0, 1)))


def test_synthetic_scene_is_consistent():
    """The synthetic scene has unit floor normals along -g and wall normals perpendicular."""
    normals = synthetic_normals(TRUE_GRAVITY, noise=0.0, nan_fraction=0.0).numpy()
    np.testing.assert_allclose(normals[:, -1, 0], -TRUE_GRAVITY, atol=1e-12)
    np.testing.assert_allclose(np.einsum('c,chw->hw', TRUE_GRAVITY, normals[:, :30]), 0.0,
                               atol=1e-12)


@pytest.mark.parametrize('seed', range(3))
def test_estimate_finds_tilted_gravity(seed):
    """The estimate points along the true gravity (down, same sign) and is a unit vector."""
    estimate = estimate_gravity(synthetic_normals(TRUE_GRAVITY, seed=seed))
    assert estimate.shape == (3,)
    assert estimate.dtype == np.float64
    assert np.linalg.norm(estimate) == pytest.approx(1.0, abs=1e-12)
    assert estimate @ TRUE_GRAVITY > 0.999


@pytest.mark.parametrize('seed', range(4))
def test_estimate_finds_random_gravity_near_camera_y(seed):
    """Gravity directions up to 35 degrees from the camera's y axis are recovered."""
    rng = np.random.default_rng(seed + 10)
    axis = unit(np.cross([0.0, 1.0, 0.0], rng.standard_normal(3)))
    gravity = rotate_about(np.array([0.0, 1.0, 0.0]), axis, rng.uniform(5.0, 35.0))
    estimate = estimate_gravity(synthetic_normals(gravity, seed=seed))
    assert estimate @ gravity > 0.999


def test_estimate_ignores_nan_normals():
    """Adding pixels with NaN normals does not change the estimate."""
    normals = synthetic_normals(TRUE_GRAVITY, seed=1, nan_fraction=0.0)
    padded = torch.cat((normals, torch.full((3, 60, 40), math.nan, dtype=torch.float64)), 2)
    padded[:, 5:15, 3:9] = math.nan  # replace a few wall pixels as well ...
    normals[:, 5:15, 3:9] = 0.0      # ... which must weigh like absent pixels
    expected = estimate_gravity(normals)
    estimate = estimate_gravity(padded)
    assert np.isfinite(estimate).all()
    np.testing.assert_allclose(estimate, expected, atol=1e-9)
    assert estimate @ TRUE_GRAVITY > 0.999


def test_estimate_with_many_nan_normals():
    """With half of the pixels NaN the estimate is still accurate."""
    estimate = estimate_gravity(synthetic_normals(TRUE_GRAVITY, seed=2, nan_fraction=0.5))
    assert estimate @ TRUE_GRAVITY > 0.999


def test_estimate_keeps_sign_of_initial():
    """The result points the same way as the initial guess (here: 'up' gives -g)."""
    normals = synthetic_normals(TRUE_GRAVITY, seed=0)
    estimate = estimate_gravity(normals, initial=(0.0, -1.0, 0.0))
    assert estimate @ TRUE_GRAVITY < -0.999


def test_estimate_does_not_modify_normals():
    """The input normals, NaN included, are left unchanged."""
    normals = synthetic_normals(TRUE_GRAVITY, seed=4)
    before = normals.clone()
    estimate_gravity(normals)
    np.testing.assert_array_equal(normals.numpy(), before.numpy())  # NaN == NaN here


def compiled_passes(flat, products):
    """Return the numba passes of geometry.hha_cpu and the numpy normals they take."""
    hha_cpu = pytest.importorskip('rgbd_perception.geometry.hha_cpu')
    return flat.numpy(), hha_cpu.WallFloorPasses


@pytest.mark.parametrize('make_passes', [
    lambda flat, products: (flat, TorchWallFloorPasses(products)), compiled_passes],
    ids=['torch', 'numba'])
def test_incremental_moments_equal_full_passes(make_passes):
    """Moments updated from the near-threshold normals equal a full pass for nearby y."""
    normals = synthetic_normals(TRUE_GRAVITY, noise=0.3)
    flat, passes = make_passes(*normal_products(normals))
    sin_t, cos_t = math.sin(math.radians(15.0)), math.cos(math.radians(15.0))
    incremental = WallFloorMoments(flat, passes, sin_t, cos_t, band=0.05)
    rng = np.random.default_rng(3)
    y = unit([0.1, 0.95, -0.3])
    incremental(y)  # full pass at the reference
    for _ in range(5):
        nearby = unit(y + rng.normal(scale=0.015, size=3))
        assert np.linalg.norm(nearby - y) < 0.05
        full = WallFloorMoments(flat, passes, sin_t, cos_t, band=0.05)(nearby)
        np.testing.assert_allclose(incremental(nearby), full, rtol=0, atol=1e-9)
    assert np.array_equal(incremental.reference_y, y)  # no new full pass was needed
    far = unit([0.0, 1.0, 0.0])
    full = WallFloorMoments(flat, passes, sin_t, cos_t)(far)
    np.testing.assert_allclose(incremental(far), full, rtol=0, atol=1e-9)
    assert np.array_equal(incremental.reference_y, far)


def test_compiled_passes_classify_as_torch():
    """The numba full pass: torch's sums (to rounding), near normals and weights, in order."""
    flat, products = normal_products(synthetic_normals(TRUE_GRAVITY, noise=0.3, seed=5))
    numpy_flat, compiled = compiled_passes(flat, products)
    rng = np.random.default_rng(7)
    for threshold in (45.0, 15.0):
        sin_t, cos_t = math.sin(math.radians(threshold)), math.cos(math.radians(threshold))
        y = unit(rng.normal(size=3))
        entries, (near_flat, _, near_weights) = TorchWallFloorPasses(products).full(
            flat, y, sin_t, cos_t, 0.02)
        found, (found_flat, found_weights) = compiled.full(numpy_flat, y, sin_t, cos_t, 0.02)
        np.testing.assert_allclose(found, entries.numpy(), rtol=0, atol=1e-9)
        assert found_flat.shape[1] > 0
        np.testing.assert_array_equal(found_flat, near_flat.numpy())
        np.testing.assert_array_equal(found_weights, near_weights.numpy())
