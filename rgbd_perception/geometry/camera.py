"""Pinhole camera intrinsics and the per-pixel ray slopes used by the depth geometry."""

from dataclasses import dataclass
import math

import torch

from rgbd_perception.errors import InputError


class IntrinsicsError(InputError):
    """Raised for intrinsics that cannot describe a pinhole camera."""


@dataclass(frozen=True)
class Intrinsics:
    """
    Pinhole intrinsics in pixels.

    The HHA geometry follows the reference MATLAB code: pixel (row v, column u) has the
    1-based coordinates (u + 1, v + 1), and fx, fy, cx, cy are used exactly as given.
    """

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        """Reject non-finite values and non-positive focal lengths."""
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise IntrinsicsError(f'intrinsics must be finite, got {values}')
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(
                f'focal lengths must be > 0, got fx={self.fx}, fy={self.fy}')

    @classmethod
    def from_matrix(cls, k):
        """Build from a row-major 3x3 camera matrix K (9 numbers or nested rows)."""
        flat = [float(v) for row in k for v in (row if hasattr(row, '__len__') else [row])]
        if len(flat) != 9:
            raise IntrinsicsError(f'camera matrix needs 9 numbers, got {len(flat)}')
        return cls(fx=flat[0], fy=flat[4], cx=flat[2], cy=flat[5])


def ray_slopes(height, width, intrinsics, device=None):
    """
    Return the ray slopes x/z and y/z of every pixel, in float64.

    Returns a pair (a, b): a has shape (1, W) with a[0, u] = (u + 1 - cx) / fx and b has
    shape (H, 1) with b[v, 0] = (v + 1 - cy) / fy (1-based pixel coordinates, as the
    reference HHA code). A 3D point at depth Z is (a * Z, b * Z, Z).
    """
    u = torch.arange(1, width + 1, dtype=torch.float64, device=device)
    v = torch.arange(1, height + 1, dtype=torch.float64, device=device)
    a = ((u - intrinsics.cx) / intrinsics.fx).unsqueeze(0)
    b = ((v - intrinsics.cy) / intrinsics.fy).unsqueeze(1)
    return a, b
