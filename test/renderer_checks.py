"""
Camera checks shared by the tests of both renderers (TinyRenderer and Cycles).

The camera is the world frame (R_w2c = I, t_w2c = 0): optical frame x right, y down, z
forward, metres; K in 0-based pixel centres.
"""

import numpy as np

from rgbd_perception.geometry.meshes import Mesh
from training.synth.scene import Body, Lighting, Scene

LIGHT = Lighting((0.0, 0.0, 1.0), (1.0, 1.0, 1.0), 3.0, 0.6, 0.4, 0.0, False)


def quad(x0, y0, x1, y1, z0, z1):
    """Return a quad facing the camera at the origin, depth z0 at x0 and z1 at x1."""
    vertices = np.array([[x0 * z0, y0 * z0, z0], [x1 * z1, y0 * z1, z1],
                         [x1 * z1, y1 * z1, z1], [x0 * z0, y1 * z0, z0]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    return Mesh(vertices, faces, np.tile([0.0, 0.0, -1.0], (4, 1)))


def render_alone(renderer, mesh):
    """Return the RenderedFrame of one body with the mesh at the world origin."""
    body = Body(mesh, np.eye(3), np.zeros(3))
    return renderer.render(Scene((body,), np.eye(3), np.zeros(3), LIGHT))


def render_edge(renderer, k, fraction):
    """
    Return the frame of a quad whose top-left corner lies at pixel (100, 70) + fraction.

    Pixel coordinates are 0-based centres of K; the quad reaches beyond the image's right and
    bottom edges, at depth 1 m.
    """
    u_edge, v_edge = 100.0 + fraction, 70.0 + fraction
    x0, y0 = (u_edge - k[0, 2]) / k[0, 0], (v_edge - k[1, 2]) / k[1, 1]
    return render_alone(renderer, quad(x0, y0, 3.0, 3.0, 1.0, 1.0))


def assert_edge_at_pixel_centres(frame):
    """Assert that the quad of render_edge covers the centres from column 101 and row 71."""
    covered = frame.labels == 0
    assert np.flatnonzero(covered[-1])[0] == 101
    assert np.flatnonzero(covered[:, -1])[0] == 71


def slanted_plane(renderer, k, width):
    """
    Return (frame, (W,) expected depth) of a plane filling the view, slanted along x.

    The plane passes through z = 0.5 m at x/z = -1 and z = 3 m at x/z = 1 (1/z is affine in
    x/z), so the expected optical-frame z of column u is exact.
    """
    frame = render_alone(renderer, quad(-1.0, -1.0, 1.0, 1.0, 0.5, 3.0))
    u = (np.arange(width) - k[0, 2]) / k[0, 0]
    return frame, 1.0 / (1 / 0.5 + (u + 1.0) / 2.0 * (1 / 3.0 - 1 / 0.5))
