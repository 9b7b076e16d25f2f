"""HHA encoding of metric depth (Gupta et al., ECCV 2014), pixel-exact to the MATLAB code.

Channels: R = horizontal disparity 31000 / max(Z_cm, 100), G = height above the lowest
point (cm; floor at -130 cm when the lowest point is above -90 cm), B = angle between the
local normal and gravity + 128 - 90 (degrees). Everything runs in float64 torch on the
tensor's device; rounding is MATLAB's ``uint8`` (half away from zero, saturating).
"""

from dataclasses import dataclass

import numpy as np
import torch

from rgbd_perception.geometry.camera import ray_slopes
from rgbd_perception.geometry.gravity import estimate_gravity, rotation_between
from rgbd_perception.geometry.normals import plane_normals

ANGLE_NORMAL_RADIUS = 3      # 7x7 window for the normals of the angle channel
GRAVITY_NORMAL_RADIUS = 10   # 21x21 window for the normals that estimate gravity
INITIAL_GRAVITY = (0.0, 1.0, 0.0)


@dataclass
class HhaResult:
    """HHA image and the gravity it was computed with.

    image: (H, W, 3) uint8 tensor on the input's device (R disparity, G height, B angle).
    gravity: (3,) float64 unit vector, direction of gravity (down) in the camera frame.
    """

    image: torch.Tensor
    gravity: np.ndarray


def _matlab_uint8(values):
    """Round half away from zero and saturate to [0, 255], NaN -> 0 (MATLAB ``uint8``)."""
    return torch.nan_to_num(torch.floor(values + 0.5), nan=0.0).clamp_(0, 255).to(torch.uint8)


def hha_encode(depth_m, intrinsics, missing=None, gravity=None):
    """Encode depth as HHA.

    depth_m: (H, W) float64 tensor, metres, 0 where there is no measurement.
    intrinsics: :class:`rgbd_perception.geometry.camera.Intrinsics`.
    missing: optional (H, W) bool tensor of pixels without depth for the normal fits; by
    default ``depth_m == 0`` (pass the raw sensor's zeros when depth_m was filled).
    gravity: optional (3,) direction of gravity (down) in the camera optical frame; when
    None it is estimated from the frame with the reference two-stage algorithm.
    Returns an :class:`HhaResult`.
    """
    depth_cm = depth_m * 100.0
    if missing is None:
        missing = depth_m == 0
    height, width = depth_cm.shape
    a, b = ray_slopes(height, width, intrinsics, device=depth_cm.device)
    radii = (ANGLE_NORMAL_RADIUS,) if gravity is not None else (
        ANGLE_NORMAL_RADIUS, GRAVITY_NORMAL_RADIUS)
    normals, points = plane_normals(depth_cm, ~missing, a, b, radii)
    if gravity is None:
        gravity = estimate_gravity(normals[1], initial=INITIAL_GRAVITY)
    else:
        gravity = np.asarray(gravity, dtype=np.float64)
        gravity = gravity / np.linalg.norm(gravity)

    # Height: y of the points rotated so that gravity maps onto the camera's y axis.
    rotation = rotation_between(INITIAL_GRAVITY, gravity)
    column = rotation[:, 1]
    height_cm = -(column[0] * points[0] + column[1] * points[1] + column[2] * points[2])
    lowest = float(height_cm.min())
    if lowest > -90.0:
        lowest = -130.0

    cos_angle = (normals[0] * torch.as_tensor(gravity, device=depth_cm.device).view(3, 1, 1)
                 ).sum(0).clamp_(-1.0, 1.0)
    # MATLAB's max(-1, NaN) is -1, so undefined normals get an angle of 180 degrees.
    angle_deg = torch.rad2deg(torch.acos(torch.nan_to_num(cos_angle, nan=-1.0)))

    channels = torch.stack((31000.0 / depth_cm.clamp(min=100.0),
                            height_cm - lowest,
                            angle_deg + (128.0 - 90.0)), dim=-1)
    return HhaResult(image=_matlab_uint8(channels), gravity=gravity)
