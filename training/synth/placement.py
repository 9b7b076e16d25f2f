"""
Objects resting on horizontal rectangles (table top, floor) without interpenetration.

A resting pose puts one stable face of the object's convex hull on the surface: a hull face
is stable when the hull's centre of mass (uniform density) projects inside it, and is chosen
with probability proportional to its solid angle seen from the centre of mass (the
quasi-static rule; the share of unstable faces is spread over the stable ones). A random yaw
follows. Two resting objects interpenetrate only if their footprints (convex hulls of their
vertices projected on the surface) overlap, so a placement is rejected and resampled when its
footprint overlaps an occupied one or leaves the rectangle. No physics is simulated here
(:mod:`training.synth.physics` drops objects onto a table instead).
"""

from dataclasses import dataclass, field
import functools
import math

import cv2
import numpy as np
from scipy.spatial import ConvexHull

#: Gap between a resting object and its surface (m): no coincident faces in the z-buffer.
CLEARANCE = 2e-4


@functools.lru_cache(maxsize=None)
def resting_faces(mesh):
    """
    Return (normals (K, 3), probabilities (K,)) of the stable faces of a mesh's convex hull.

    normals are outward unit normals in the model frame. Cached per mesh object.
    """
    points = mesh.vertices
    hull = ConvexHull(points)
    corners = points[hull.simplices]
    centre = hull_centroid(points, hull)[0]
    normals, offsets = hull.equations[:, :3], hull.equations[:, 3]
    # Coplanar hull triangles form one face.
    keys = np.round(np.concatenate([normals, offsets[:, None] * 1e2], axis=1) * 1e3)
    _, face_of = np.unique(keys, axis=0, return_inverse=True)
    face_of = face_of.reshape(-1)
    foot = centre - (normals @ centre + offsets)[:, None] * normals
    inside = _inside_triangles(foot, corners)
    stable = np.bincount(face_of, weights=inside) > 0
    angles = np.bincount(face_of, weights=_solid_angles(corners - centre))
    face_normals = np.zeros((len(stable), 3))
    np.add.at(face_normals, face_of, normals)
    face_normals /= np.linalg.norm(face_normals, axis=1, keepdims=True)
    weights = angles[stable]
    return face_normals[stable], weights / weights.sum()


def hull_centroid(points, hull):
    """
    Return (centre (3,), volume) of the solid convex hull of (N, 3) points (uniform density).

    hull: scipy.spatial.ConvexHull of the points. The hull is cut into tetrahedra from the mean
    of its vertices to its triangles; centre in the points' units, volume in their cube.
    """
    corners = points[hull.simplices]
    inner = points[hull.vertices].mean(axis=0)
    volumes = np.abs(np.einsum('ij,ij->i', corners[:, 0] - inner,
                               np.cross(corners[:, 1] - inner, corners[:, 2] - inner)))
    centre = (volumes[:, None] * (corners.sum(axis=1) + inner)).sum(0) / (4 * volumes.sum())
    return centre, volumes.sum() / 6.0


def _inside_triangles(points, corners, tolerance=1e-9):
    """Return (T,) whether each point lies in its triangle (barycentric test, in-plane)."""
    e0, e1 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    d = points - corners[:, 0]
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
    denominator = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / denominator
    w = (d00 * d21 - d01 * d20) / denominator
    return (v >= -tolerance) & (w >= -tolerance) & (v + w <= 1 + tolerance)


def _solid_angles(corners):
    """Return (T,) solid angles of triangles (T, 3, 3) seen from the origin."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    numerator = np.abs(np.einsum('ij,ij->i', a, np.cross(b, c)))
    denominator = (la * lb * lc + (a * b).sum(1) * lc + (a * c).sum(1) * lb
                   + (b * c).sum(1) * la)
    return 2.0 * np.arctan2(numerator, denominator)


def rotation_between(a, b):
    """Return the (3, 3) rotation taking unit vector a onto unit vector b (shortest arc)."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1.0 + 1e-12:
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    skew = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + skew + skew @ skew / (1.0 + c)


def yaw_rotation(angle):
    """Return the (3, 3) rotation by angle (rad) about the world z axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def random_resting_rotation(rng, mesh):
    """Return a (3, 3) world-from-model rotation resting the mesh on a random stable face."""
    normals, probabilities = resting_faces(mesh)
    face = rng.choice(len(normals), p=probabilities)
    down = rotation_between(normals[face], np.array([0.0, 0.0, -1.0]))
    return yaw_rotation(rng.uniform(0.0, 2.0 * np.pi)) @ down


@dataclass(frozen=True)
class Rectangle:
    """A horizontal rectangle: centre (x, y) m, yaw (rad), half sizes (m), height z (m)."""

    centre: tuple
    yaw: float
    half_size: tuple
    height: float

    def corners(self):
        """Return the (4, 2) float32 world xy corners, counter-clockwise."""
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * self.half_size
        return (local @ yaw_rotation(self.yaw)[:2, :2].T + self.centre).astype(np.float32)

    def contains(self, points_xy):
        """Return whether all (N, 2) world xy points lie inside the rectangle."""
        local = (np.asarray(points_xy) - self.centre) @ yaw_rotation(self.yaw)[:2, :2]
        return bool(np.all(np.abs(local) <= self.half_size))

    def random_point(self, rng):
        """Return a uniform random (2,) world xy point of the rectangle."""
        local = rng.uniform(-1.0, 1.0, 2) * self.half_size
        return yaw_rotation(self.yaw)[:2, :2] @ local + self.centre


def footprint(points_xy):
    """Return the (K, 2) float32 convex hull of (N, 2) xy points (a convex footprint)."""
    return cv2.convexHull(np.asarray(points_xy, np.float32)).reshape(-1, 2)


@dataclass
class Occupancy:
    """Footprints (convex (K, 2) float32 polygons, world xy) already taken on the floor plan."""

    footprints: list = field(default_factory=list)

    def is_free(self, polygon):
        """Return whether a convex polygon overlaps none of the footprints."""
        return all(cv2.intersectConvexConvex(polygon, other)[0] <= 0.0
                   for other in self.footprints)

    def add(self, polygon):
        """Mark a convex polygon as taken."""
        self.footprints.append(polygon)


def place_resting(rng, mesh, surface, occupancy, tries=50):
    """
    Return (R (3, 3), t (3,)) of the mesh resting on the surface rectangle, or None.

    Up to `tries` random poses (stable face, yaw, position) are drawn; the first whose
    footprint lies inside the rectangle and overlaps no occupied footprint is taken and added
    to the occupancy.
    """
    for _ in range(tries):
        rotation = random_resting_rotation(rng, mesh)
        rotated = mesh.vertices @ rotation.T
        xy = surface.random_point(rng)
        polygon = footprint(rotated[:, :2] + xy)
        if surface.contains(polygon) and occupancy.is_free(polygon):
            occupancy.add(polygon)
            z = surface.height + CLEARANCE - rotated[:, 2].min()
            return rotation, np.array([xy[0], xy[1], z])
    return None
