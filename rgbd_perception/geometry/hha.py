"""
HHA encoding of metric depth (Gupta et al., ECCV 2014), pixel-exact to the MATLAB code.

Channels: R = horizontal disparity 31000 / max(Z_cm, 100), G = height above the lowest
point (cm; floor at -130 cm when the lowest point is above -90 cm), B = angle between the
local normal and gravity + 128 - 90 (degrees). Everything runs in float64 torch on the
tensor's device; rounding is MATLAB's ``uint8`` (half away from zero, saturating).
"""

from dataclasses import dataclass

import numpy as np
import torch

from rgbd_perception.geometry.box_filter import box_sum
from rgbd_perception.geometry.camera import ray_slopes
from rgbd_perception.geometry.gravity import (classify_normals,
                                              gravity_from_normal_products, normal_products,
                                              rotation_between)
from rgbd_perception.geometry.normals import moment_planes, oriented_normals, unit_normals

ANGLE_NORMAL_RADIUS = 3      # 7x7 window for the normals of the angle channel
GRAVITY_NORMAL_RADIUS = 10   # 21x21 window for the normals that estimate gravity
INITIAL_GRAVITY = (0.0, 1.0, 0.0)


@dataclass
class HhaResult:
    """
    HHA image and the gravity it was computed with.

    image: (H, W, 3) uint8 tensor on the input's device (R disparity, G height, B angle).
    gravity: (3,) float64 unit vector, direction of gravity (down) in the camera frame.
    """

    image: torch.Tensor
    gravity: np.ndarray


def hha_channels(depth_cm, points, normals, gravity, height_axis):
    """
    Quantise the three HHA channels; (H, W, 3) uint8.

    depth_cm: (H, W); points: (3, H, W) cm; normals: (3, H, W) (NaN allowed); gravity and
    height_axis: (3,) float64 tensors (height = -height_axis . P, the reference's rotated y).
    """
    height = -(height_axis[0] * points[0] + height_axis[1] * points[1]
               + height_axis[2] * points[2])
    lowest = height.min()
    lowest = torch.where(lowest > -90.0, -130.0, lowest)
    cos_angle = (normals[0] * gravity[0] + normals[1] * gravity[1]
                 + normals[2] * gravity[2]).clamp(-1.0, 1.0)
    # MATLAB's max(-1, NaN) is -1, so undefined normals get an angle of 180 degrees.
    angle = torch.rad2deg(torch.acos(torch.nan_to_num(cos_angle, nan=-1.0)))
    channels = torch.stack((31000.0 / depth_cm.clamp(min=100.0), height - lowest,
                            angle + (128.0 - 90.0)), dim=-1)
    # MATLAB uint8: round half away from zero (all values here are >= 0), saturate.
    return torch.floor(channels + 0.5).clamp(0.0, 255.0).to(torch.uint8)


def gravity_normal_products(sums):
    """
    Return :func:`normal_products` of the normals fitted from ``sums``: (3, P), (6, P).

    The gravity estimate only uses n n^T and |n . y|, so the normals need no orientation.
    """
    return normal_products(unit_normals(sums))


class HhaEncoder:
    """
    HHA encoder whose element-wise kernels run eagerly or fused by ``torch.compile``.

    compile_kernels: False runs plain torch ops; True fuses the per-pixel parts (moment planes,
    normal solve, gravity classification, channels) with ``torch.compile`` once per image
    size (a one-off compile of tens of seconds; needs a C++ compiler, or Triton on CUDA).
    Both modes produce the same images (tested).
    """

    def __init__(self, compile_kernels=False):
        wrap = (lambda fn: torch.compile(fn, dynamic=False)) if compile_kernels else (
            lambda fn: fn)
        self._moment_planes = wrap(moment_planes)
        self._oriented_normals = wrap(oriented_normals)
        self._gravity_normal_products = wrap(gravity_normal_products)
        self._classify_normals = wrap(classify_normals)
        self._channels = wrap(hha_channels)

    def __call__(self, depth_m, intrinsics, missing=None, gravity=None):
        """
        Encode depth as HHA.

        depth_m: (H, W) float64 tensor, metres, 0 where there is no measurement.
        intrinsics: :class:`rgbd_perception.geometry.camera.Intrinsics` of either pixel origin
        (each used exactly as given; 1-based numbers are the reference's arithmetic).
        missing: optional (H, W) bool tensor of pixels without depth for the normal fits;
        by default ``depth_m == 0`` (pass the raw sensor's zeros when depth_m was filled).
        gravity: optional (3,) direction of gravity (down) in the camera optical frame;
        when None it is estimated from the frame with the reference two-stage algorithm.
        Returns an :class:`HhaResult`.
        """
        device = depth_m.device
        depth_cm = depth_m * 100.0
        if missing is None:
            missing = depth_m == 0
        a, b = (torch.from_numpy(s).to(device) for s in ray_slopes(intrinsics, depth_cm.shape))
        points = torch.stack((a * depth_cm, b * depth_cm, depth_cm))
        planes = self._moment_planes(depth_cm, ~missing, a, b)
        normals = self._oriented_normals(box_sum(planes, ANGLE_NORMAL_RADIUS), points)
        if gravity is None:
            flat, products = self._gravity_normal_products(
                box_sum(planes, GRAVITY_NORMAL_RADIUS))
            gravity = gravity_from_normal_products(flat, products, initial=INITIAL_GRAVITY,
                                                   classify=self._classify_normals)
        else:
            gravity = np.asarray(gravity, dtype=np.float64)
            gravity = gravity / np.linalg.norm(gravity)
        # Height is y of the points rotated so that gravity maps onto the camera's y axis.
        height_axis = rotation_between(INITIAL_GRAVITY, gravity)[:, 1]
        image = self._channels(depth_cm, points, normals,
                               torch.as_tensor(gravity, device=device),
                               torch.as_tensor(height_axis, device=device))
        return HhaResult(image=image, gravity=gravity)
