"""
The pinhole camera model of every stage and of the synthetic world.

Pixel grid: pixel (row v, column u) of an H x W image is the array element [v, u], u in
0 .. W-1, v in 0 .. H-1.  Its centre has the 0-based coordinates (u, v) (OpenCV, ROS
camera_info) and the 1-based coordinates (u + 1, v + 1) (MATLAB: the NYU Depth v2 toolbox and
the reference HHA code).  :class:`Intrinsics` records which of the two its cx, cy are given
in; every function here takes either and speaks 0-based pixel coordinates (u, v) to its
caller.  Camera optical frame (REP 103): x right, y down, z forward; a point at depth z is
(x/z, y/z, 1) z.
"""

from dataclasses import dataclass
import math

import cv2
import numpy as np

from rgbd_perception.errors import InputError

#: The two pixel-coordinate conventions: 0 = OpenCV / ROS, 1 = MATLAB.
PIXEL_ORIGINS = (0, 1)


class IntrinsicsError(InputError):
    """Raised for intrinsics that cannot describe a pinhole camera."""


@dataclass(frozen=True)
class Intrinsics:
    """
    Pinhole intrinsics in pixels: focal lengths fx, fy and principal point cx, cy.

    pixel_origin: the coordinate of the first pixel's centre that cx, cy are measured in:
    0 (default; OpenCV, ROS camera_info K, BOP cam_K) or 1 (MATLAB: the NYU Depth v2 and
    SUN RGB-D toolboxes, the reference HHA code).  The same camera has cx, cy one larger
    with origin 1 than with origin 0 (:meth:`with_origin` converts).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    pixel_origin: int = 0

    def __post_init__(self):
        """Reject non-finite values, non-positive focal lengths and unknown origins."""
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise IntrinsicsError(f'intrinsics must be finite, got {values}')
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(
                f'focal lengths must be > 0, got fx={self.fx}, fy={self.fy}')
        if self.pixel_origin not in PIXEL_ORIGINS:
            raise IntrinsicsError(f'pixel origin must be 0 or 1, got {self.pixel_origin}')

    @classmethod
    def from_matrix(cls, k, pixel_origin=0):
        """Build from a 3x3 camera matrix K (nested rows, an array or 9 row-major numbers)."""
        flat = np.asarray(k, dtype=np.float64).reshape(-1)
        if flat.size != 9:
            raise IntrinsicsError(f'camera matrix needs 9 numbers, got {flat.size}')
        return cls(fx=float(flat[0]), fy=float(flat[4]), cx=float(flat[2]), cy=float(flat[5]),
                   pixel_origin=pixel_origin)

    def with_origin(self, pixel_origin):
        """Return the same camera with cx, cy measured from ``pixel_origin`` (0 or 1)."""
        if pixel_origin not in PIXEL_ORIGINS:
            raise IntrinsicsError(f'pixel origin must be 0 or 1, got {pixel_origin}')
        shift = pixel_origin - self.pixel_origin
        return Intrinsics(self.fx, self.fy, self.cx + shift, self.cy + shift, pixel_origin)

    def matrix(self):
        """Return the (3, 3) float64 K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (own origin)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def as_intrinsics(camera):
    """
    Return ``camera`` as :class:`Intrinsics`.

    camera: Intrinsics (returned unchanged), a 3x3 K or 9 row-major numbers, or the four
    numbers (fx, fy, cx, cy); numbers are taken as 0-based (OpenCV / ROS).
    """
    if isinstance(camera, Intrinsics):
        return camera
    values = np.asarray(camera, dtype=np.float64).reshape(-1)
    if values.size == 4:
        return Intrinsics(*(float(v) for v in values))
    return Intrinsics.from_matrix(values)


def pixel_rays(camera, u, v):
    """
    Return (x/z, y/z): the ray slopes through 0-based pixel coordinates (u, v).

    u, v: numbers or arrays (broadcast), pixels.  Computed in the camera's own origin o as
    (u + o - cx) / fx and (v + o - cy) / fy, so 1-based intrinsics give exactly the MATLAB
    arithmetic.  float64.
    """
    camera = as_intrinsics(camera)
    origin = camera.pixel_origin
    return ((np.asarray(u, np.float64) + origin - camera.cx) / camera.fx,
            (np.asarray(v, np.float64) + origin - camera.cy) / camera.fy)


def ray_slopes(camera, shape):
    """
    Return the ray slopes of every pixel of an (H, W) image: a (1, W) and b (H, 1), float64.

    a[0, u], b[v, 0] are :func:`pixel_rays` of column u, row v; the 3D point of pixel [v, u]
    at depth Z is (a[0, u] Z, b[v, 0] Z, Z).  No conversion rounds cx, cy: 1-based intrinsics
    give MATLAB's (u + 1 - cx) / fx bit for bit.  0-based numbers one smaller (cx - 1 written
    as a decimal) give identical slopes whenever cx - 1 and cx lie in the same power-of-two
    range (their doubles then differ by exactly 1, so the differences are the same real
    number, rounded once): every principal point not within a pixel above 2, 4, ..., 512.
    """
    height, width = shape
    return pixel_rays(camera, np.arange(width)[None, :], np.arange(height)[:, None])


def pixel_offsets(camera, shape):
    """
    Return the offsets from the principal point of an (H, W) image: du (1, W), dv (H, 1).

    du[0, u] = u + o - cx and dv[v, 0] = v + o - cy in the camera's own pixel origin o:
    with 1-based intrinsics, MATLAB's xx - cx and yy - cy bit for bit. float64 pixels.
    """
    camera = as_intrinsics(camera)
    height, width = shape
    origin = camera.pixel_origin
    return (np.arange(width, dtype=np.float64)[None, :] + origin - camera.cx,
            np.arange(height, dtype=np.float64)[:, None] + origin - camera.cy)


def back_project(depth, camera, mask=None):
    """
    Return (N, 3) float64 camera-frame points of the valid pixels of ``depth``.

    depth: (H, W) metres, 0 = missing; camera: see :func:`as_intrinsics`; mask: optional
    (H, W) bool restricting the pixels.  Points are in row-major pixel order, metres.
    """
    valid = depth > 0 if mask is None else (depth > 0) & mask
    rows, cols = np.nonzero(valid)
    z = depth[rows, cols].astype(np.float64)
    x, y = pixel_rays(camera, cols, rows)
    return np.stack([x * z, y * z, z], axis=1)


def project(points, camera):
    """
    Return (N, 2) float64 0-based pixel coordinates (u, v) of (N, 3) camera points (z > 0).

    The inverse of :func:`pixel_rays`: u = fx x / z + cx - o, v = fy y / z + cy - o for a
    camera of pixel origin o.
    """
    camera = as_intrinsics(camera)
    points = np.asarray(points, np.float64)
    origin = camera.pixel_origin
    return np.stack([camera.fx * points[:, 0] / points[:, 2] + camera.cx - origin,
                     camera.fy * points[:, 1] / points[:, 2] + camera.cy - origin], axis=1)


def depth_edges(depth, relative_jump=0.03, missing_is_edge=False):
    """
    Return the (H, W) bool mask of valid pixels next to a depth discontinuity.

    depth: (H, W) metres, 0 = missing.  A valid pixel of depth z is an edge when the valid
    depths of its 3 x 3 neighbourhood (itself included) span more than relative_jump * z;
    with missing_is_edge, also when a neighbour is missing.  Pixels outside the image do
    not count.
    """
    depth = np.asarray(depth, np.float32)
    valid = depth > 0
    kernel = np.ones((3, 3), np.uint8)
    largest = cv2.dilate(depth, kernel)
    smallest = cv2.erode(np.where(valid, depth, np.inf).astype(np.float32), kernel)
    edges = valid & (largest - smallest > relative_jump * depth)
    if missing_is_edge:
        edges |= valid & (cv2.erode(valid.astype(np.uint8), kernel) == 0)
    return edges
