"""
Procedural meshes with texture coordinates: box, cylinder, sphere (metres, centred at 0).

Faces wind counter-clockwise seen from outside. The renderer draws these meshes as they are, so
the geometry that is rendered is exactly the geometry written to the models and ground truth.
"""

import numpy as np

from rgbd_perception.geometry.meshes import Mesh

# Corners of the unit cube per face: (outward normal axis, sign) -> 4 corners counter-clockwise.
_BOX_FACES = (
    ((1, 0, 0), ((1, -1, -1), (1, 1, -1), (1, 1, 1), (1, -1, 1))),
    ((-1, 0, 0), ((-1, 1, -1), (-1, -1, -1), (-1, -1, 1), (-1, 1, 1))),
    ((0, 1, 0), ((1, 1, -1), (-1, 1, -1), (-1, 1, 1), (1, 1, 1))),
    ((0, -1, 0), ((-1, -1, -1), (1, -1, -1), (1, -1, 1), (-1, -1, 1))),
    ((0, 0, 1), ((-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1))),
    ((0, 0, -1), ((-1, 1, -1), (1, 1, -1), (1, -1, -1), (-1, -1, -1))),
)


def box_mesh(size, texture_tile=None):
    """
    Return an axis-aligned box of (3,) side lengths in metres centred at the origin.

    Each face maps the texture once, or, with texture_tile (metres), repeats it every
    texture_tile metres (TinyRenderer wraps texture coordinates).
    """
    half = 0.5 * np.asarray(size, np.float64)
    vertices, normals, uvs = [], [], []
    for normal, corners in _BOX_FACES:
        corners = np.asarray(corners, np.float64) * half
        edge_u, edge_v = corners[1] - corners[0], corners[3] - corners[0]
        extent = np.array([np.linalg.norm(edge_u), np.linalg.norm(edge_v)])
        repeat = extent / texture_tile if texture_tile else np.ones(2)
        vertices.append(corners)
        normals.append(np.tile(normal, (4, 1)))
        uvs.append(np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * repeat)
    quads = np.arange(24).reshape(6, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return Mesh(np.concatenate(vertices), faces, np.concatenate(normals).astype(np.float64),
                np.concatenate(uvs))


def _grid_faces(rows, columns):
    """Return the triangles of a (rows + 1) x (columns + 1) vertex grid, row-major."""
    r, c = np.meshgrid(np.arange(rows), np.arange(columns), indexing='ij')
    a = (r * (columns + 1) + c).reshape(-1)
    b, d = a + 1, a + columns + 1
    return np.concatenate([np.stack([a, b, d + 1], 1), np.stack([a, d + 1, d], 1)])


def cylinder_mesh(radius, height, segments=48):
    """Return a closed cylinder along z (radius, height in metres) centred at the origin."""
    angle = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    ring = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], 1)
    z = np.array([-0.5, 0.5]) * height
    side = np.concatenate([ring * radius + [0.0, 0.0, zi] for zi in z])
    side_uv = np.stack([np.tile(angle / (2 * np.pi), 2), np.repeat([0.0, 1.0], segments + 1)], 1)
    vertices, normals, uvs = [side], [np.concatenate([ring, ring])], [side_uv]
    faces = [_grid_faces(1, segments)]
    count = len(side)
    for zi, sign in zip(z, (-1.0, 1.0)):
        centre = np.array([[0.0, 0.0, zi]])
        cap = np.concatenate([centre, ring[:-1] * radius + [0.0, 0.0, zi]])
        k = np.arange(segments)
        fan = np.stack([np.zeros(segments, int), 1 + k, 1 + (k + 1) % segments], 1)
        faces.append(count + (fan if sign > 0 else fan[:, [0, 2, 1]]))
        vertices.append(cap)
        normals.append(np.tile([0.0, 0.0, sign], (segments + 1, 1)))
        uvs.append(0.5 + 0.5 * cap[:, :2] / radius)
        count += segments + 1
    return Mesh(np.concatenate(vertices), np.concatenate(faces),
                np.concatenate(normals), np.concatenate(uvs))


def sphere_mesh(radius, rings=24, segments=48):
    """Return a UV sphere of radius metres centred at the origin (poles on the z axis)."""
    theta = np.linspace(np.pi, 0.0, rings + 1)  # south pole first: counter-clockwise outside
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    t, p = np.meshgrid(theta, phi, indexing='ij')
    normals = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1)
    normals = normals.reshape(-1, 3)
    uvs = np.stack([p / (2 * np.pi), 1.0 - t / np.pi], -1).reshape(-1, 2)
    faces = _grid_faces(rings, segments)
    corners = normals[faces]
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                   corners[:, 2] - corners[:, 0]), axis=1)
    return Mesh(normals * radius, faces[area > 1e-12], normals, uvs)
