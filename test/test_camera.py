"""The one pinhole camera model: pixel origins, rays, projection, back-projection, edges."""

import numpy as np
import pytest

from rgbd_perception.geometry.camera import (as_intrinsics, back_project, depth_edges,
                                             Intrinsics, IntrinsicsError, pixel_rays, project,
                                             ray_slopes)

INTRINSICS = (500.0, 510.0, 319.5, 239.5)
# NYU Depth v2 colour camera: the toolbox's 1-based numbers and the same camera 0-based.
NYU_1 = Intrinsics(518.85790117450188, 519.46961112127485, 325.58244941119034,
                   253.73616633400465, pixel_origin=1)
NYU_0 = Intrinsics(518.85790117450188, 519.46961112127485, 324.58244941119034,
                   252.73616633400465)


def test_back_projection_inverts_projection():
    """Pixels back-projected at their depth project onto themselves (0-based centres)."""
    depth = np.zeros((4, 6))
    depth[1, 2], depth[3, 5] = 2.0, 0.5
    points = back_project(depth, INTRINSICS)
    np.testing.assert_allclose(points[:, 2], [2.0, 0.5])
    np.testing.assert_allclose(project(points, INTRINSICS), [[2, 1], [5, 3]], atol=1e-9)
    np.testing.assert_allclose(points[0], [(2 - 319.5) * 2 / 500, (1 - 239.5) * 2 / 510, 2])
    mask = np.zeros((4, 6), bool)
    mask[3, 5] = True
    assert back_project(depth, INTRINSICS, mask).shape == (1, 3)


@pytest.mark.parametrize('camera', [NYU_0, NYU_1], ids=['origin0', 'origin1'])
def test_round_trip_at_sub_pixel_positions(camera):
    """project(back-projection) returns random sub-pixel 0-based coordinates, either origin."""
    rng = np.random.default_rng(0)
    pixels = rng.uniform(-0.5, 639.5, (100, 2))
    depths = rng.uniform(0.3, 8.0, 100)
    x, y = pixel_rays(camera, pixels[:, 0], pixels[:, 1])
    points = np.stack([x * depths, y * depths, depths], axis=1)
    np.testing.assert_allclose(project(points, camera), pixels, rtol=0, atol=1e-9)


def test_origins_describe_the_same_camera():
    """1-based NYU numbers are the 0-based ones + 1; the optical axis hits the same pixel."""
    assert NYU_1.with_origin(0) == NYU_0 and NYU_0.with_origin(1) == NYU_1
    assert NYU_0.with_origin(0) == NYU_0
    np.testing.assert_array_equal(NYU_1.matrix() - NYU_0.matrix(),
                                  [[0, 0, 1], [0, 0, 1], [0, 0, 0]])
    for camera in (NYU_0, NYU_1):
        np.testing.assert_allclose(project([[0.0, 0.0, 2.0]], camera), [[NYU_0.cx, NYU_0.cy]],
                                   rtol=0, atol=1e-12)
    depth = np.full((480, 640), 1.5)
    np.testing.assert_allclose(back_project(depth, NYU_1), back_project(depth, NYU_0),
                               rtol=0, atol=1e-12)


def test_ray_slopes_equal_between_origins():
    """Exactly equal slopes: 1-based numbers on MATLAB's grid, 0-based ones 1 smaller."""
    for one_based, zero_based in [(NYU_1, NYU_0), (NYU_1, NYU_1.with_origin(0))]:
        for got, expected in zip(ray_slopes(zero_based, (480, 640)),
                                 ray_slopes(one_based, (480, 640))):
            np.testing.assert_array_equal(got, expected)
    a, b = ray_slopes(NYU_1, (480, 640))
    assert a.shape == (1, 640) and b.shape == (480, 1)
    # MATLAB: (u - cx) / fx for the 1-based column u = 1 .. W.
    np.testing.assert_array_equal(a[0], (np.arange(1.0, 641.0) - NYU_1.cx) / NYU_1.fx)
    np.testing.assert_array_equal(b[:, 0], (np.arange(1.0, 481.0) - NYU_1.cy) / NYU_1.fy)


def test_matrix_and_coercion():
    """K in and out; 4 numbers or K are 0-based; Intrinsics pass through unchanged."""
    k = np.array([[500.0, 0.0, 319.5], [0.0, 510.0, 239.5], [0.0, 0.0, 1.0]])
    assert Intrinsics.from_matrix(k) == Intrinsics(*INTRINSICS)
    np.testing.assert_array_equal(Intrinsics(*INTRINSICS).matrix(), k)
    assert as_intrinsics(INTRINSICS) == as_intrinsics(k) == as_intrinsics(k.ravel().tolist())
    assert as_intrinsics(NYU_1) is NYU_1
    assert Intrinsics.from_matrix(k, pixel_origin=1).pixel_origin == 1


@pytest.mark.parametrize('values', [(0.0, 1.0, 1.0, 1.0), (1.0, -1.0, 1.0, 1.0),
                                    (1.0, 1.0, np.nan, 1.0), (1.0, 1.0, 1.0, 1.0, 2)])
def test_invalid_intrinsics(values):
    """Non-positive focal lengths, non-finite numbers and origins other than 0, 1 raise."""
    with pytest.raises(IntrinsicsError):
        Intrinsics(*values)


def test_unknown_origin_conversion_raises():
    """with_origin accepts only 0 and 1."""
    with pytest.raises(IntrinsicsError, match='pixel origin'):
        NYU_0.with_origin(2)


def test_depth_edges_missing_neighbours_only_when_asked():
    """Next to a hole a pixel is an edge only with missing_is_edge; the hole never is."""
    depth = np.full((5, 7), 2.0, np.float32)
    depth[2, 3] = 0.0
    assert not depth_edges(depth).any()
    edges = depth_edges(depth, missing_is_edge=True)
    expected = np.zeros((5, 7), bool)
    expected[1:4, 2:5] = True
    expected[2, 3] = False
    np.testing.assert_array_equal(edges, expected)


def test_depth_edges_relative_jump():
    """A 2 % step is no edge at the default 3 %; a 4 % one marks both sides."""
    depth = np.full((4, 6), 2.0, np.float32)
    depth[:, 3:] = 2.04
    assert not depth_edges(depth).any()
    depth[:, 3:] = 2.08
    np.testing.assert_array_equal(depth_edges(depth).any(axis=0),
                                  [False, False, True, True, False, False])
