"""
HHA encoding of metric depth (Gupta et al., ECCV 2014), pixel-exact to the MATLAB code.

Channels: R = horizontal disparity 31000 / max(Z_cm, 100), G = height above the lowest
point (cm; floor at -130 cm when the lowest point is above -90 cm), B = angle between the
local normal and gravity + 128 - 90 (degrees). Everything runs in float64 torch on the
tensor's device; rounding is MATLAB's ``uint8`` (half away from zero, saturating).
"""

from dataclasses import dataclass
import threading

import numpy as np
import torch

from rgbd_perception.geometry.camera import as_intrinsics, pixel_offsets, ray_slopes
from rgbd_perception.geometry.gravity import (classify_normals, gravity_from_normals,
                                              normal_products, rotation_between,
                                              TorchWallFloorPasses)
from rgbd_perception.geometry.normals import (moment_planes, oriented_normals,
                                              ReferenceTerms, unit_normals, window_sums)

try:
    from rgbd_perception.geometry import hha_cpu
except ImportError:  # numba not installed (a ROS install without python3-numba): torch only
    hha_cpu = None

ANGLE_NORMAL_RADIUS = 3      # 7x7 window for the normals of the angle channel
GRAVITY_NORMAL_RADIUS = 10   # 21x21 window for the normals that estimate gravity
INITIAL_GRAVITY = (0.0, 1.0, 0.0)


@dataclass
class FitRays:
    """
    The camera geometry of the normal fits of one (H, W) frame, float64 tensors.

    a: (1, W) and b: (H, 1) ray slopes (camera.ray_slopes: the point of pixel [v, u] at
    depth Z is (a Z, b Z, Z)); du: (1, W) and dv: (H, 1) offsets from the principal point
    (camera.pixel_offsets); focal: (fx, fy) floats.
    """

    a: torch.Tensor
    b: torch.Tensor
    du: torch.Tensor
    dv: torch.Tensor
    focal: tuple

    @classmethod
    def of(cls, intrinsics, shape, device):
        """Return the FitRays of an (H, W) image of a camera, on ``device``."""
        camera = as_intrinsics(intrinsics)
        a, b = (torch.from_numpy(s).to(device) for s in ray_slopes(camera, shape))
        du, dv = (torch.from_numpy(s).to(device) for s in pixel_offsets(camera, shape))
        return cls(a, b, du, dv, (float(camera.fx), float(camera.fy)))


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


class TorchHhaKernels:
    """
    The per-pixel steps of the encoder as torch ops, on any device.

    compile_kernels: False runs plain torch ops; True fuses each step with ``torch.compile``
    once per image size (a one-off compile of tens of seconds; needs a C++ compiler, or
    Triton on CUDA). Tensors: depth_cm (H, W) float64 cm, valid (H, W) bool, ray slopes a
    (1, W) and b (H, 1), moment planes (9, H, W); all on the depth's device.
    """

    def __init__(self, compile_kernels=False):
        wrap = (lambda fn: torch.compile(fn, dynamic=False)) if compile_kernels else (
            lambda fn: fn)
        self._moment_planes = wrap(moment_planes)
        self._oriented_normals = wrap(oriented_normals)
        self._gravity_normal_products = wrap(gravity_normal_products)
        self._classify_normals = wrap(classify_normals)
        self._channels = wrap(hha_channels)

    def fit_inputs(self, depth_m, missing, rays):
        """
        Return what the normal fits need: (depth_cm, a, b, moment planes, reference terms).

        depth_m: (H, W) float64 metres; missing: (H, W) bool or None (depth_m == 0); rays:
        the encoder's FitRays. The (9, H, W) planes are normals.moment_planes; the reference
        terms a normals.ReferenceTerms, computed only where sparse windows need them.
        """
        depth_cm = depth_m * 100.0
        valid = depth_m != 0 if missing is None else ~missing
        return (depth_cm, rays.a, rays.b, self._moment_planes(depth_cm, valid, rays.a, rays.b),
                ReferenceTerms(depth_cm, valid, rays.du, rays.dv, *rays.focal))

    def gravity_normals(self, inputs):
        """Return the (3, P) normals (NaN set to 0) of the 21x21 fits and their gravity passes."""
        flat, products = self._gravity_normal_products(
            window_sums(inputs[3], GRAVITY_NORMAL_RADIUS, inputs[4]))
        return flat, TorchWallFloorPasses(products, self._classify_normals)

    def image(self, inputs, gravity, height_axis):
        """Return the (H, W, 3) uint8 HHA image; gravity, height_axis: (3,) numpy."""
        depth_cm, a, b, planes, reference = inputs
        device = depth_cm.device
        points = torch.stack((a * depth_cm, b * depth_cm, depth_cm))
        normals = self._oriented_normals(window_sums(planes, ANGLE_NORMAL_RADIUS, reference),
                                         points)
        return self._channels(depth_cm, points, normals, torch.as_tensor(gravity, device=device),
                              torch.as_tensor(height_axis, device=device))


class NumbaHhaKernels:
    """
    The steps of :class:`TorchHhaKernels` by the fused numba kernels, for CPU tensors.

    The kernels of :mod:`rgbd_perception.geometry.hha_cpu` give the same images without
    full-frame intermediates. Its fit inputs are numpy views (see fit_inputs).

    The gravity normals live in a buffer kept from one frame to the next (per image size),
    so one instance serves one frame at a time (the encoder holds a lock).
    """

    def __init__(self):
        self._flat = np.empty((3, 0))

    @staticmethod
    def fit_inputs(depth_m, missing, rays):
        """
        Return numpy arrays (depth_cm, valid, next_valid, a, b, du, dv, focal) of the kernels.

        Shapes: depth_cm and valid (H, W), next_valid (H + 1, W) (hha_cpu.next_valid_rows),
        a and du (W,), b and dv (H,), focal (2,) (see FitRays). As
        TorchHhaKernels.fit_inputs, in numpy: a full-frame torch op here would leave torch's
        OpenMP threads spinning while the kernels start (slower on small CPUs).
        """
        depth_m = depth_m.numpy()
        valid = depth_m != 0 if missing is None else ~missing.numpy()
        valid = np.ascontiguousarray(valid)
        return (np.ascontiguousarray(depth_m * 100.0), valid, hha_cpu.next_valid_rows(valid),
                rays.a.numpy()[0], rays.b.numpy()[:, 0], rays.du.numpy()[0],
                rays.dv.numpy()[:, 0], np.array(rays.focal))

    def gravity_normals(self, inputs):
        """Return the (3, P) normals (NaN set to 0) of the 21x21 fits and their gravity passes."""
        if self._flat.shape[1] != inputs[0].size:
            self._flat = np.empty((3, inputs[0].size))
        return (hha_cpu.flat_normals(*inputs, GRAVITY_NORMAL_RADIUS, self._flat),
                hha_cpu.WallFloorPasses)

    @staticmethod
    def image(inputs, gravity, height_axis):
        """Return the (H, W, 3) uint8 HHA image; gravity, height_axis: (3,) numpy."""
        return torch.from_numpy(hha_cpu.hha_image(
            *inputs, ANGLE_NORMAL_RADIUS, np.ascontiguousarray(gravity, dtype=np.float64),
            np.ascontiguousarray(height_axis, dtype=np.float64)))


class HhaEncoder:
    """
    HHA encoder (the reference ``saveHHA`` steps) with interchangeable per-pixel kernels.

    CPU tensors use :class:`NumbaHhaKernels` when numba is importable, unless
    ``compile_kernels`` asks for torch.compile or ``use_numba`` is False; everything else
    uses :class:`TorchHhaKernels`. All kernels produce the same images (tested).
    """

    def __init__(self, compile_kernels=False, use_numba=True):
        self.torch_kernels = TorchHhaKernels(compile_kernels)
        self.numba_kernels = (NumbaHhaKernels()
                              if use_numba and not compile_kernels and hha_cpu is not None
                              else None)
        self._lock = threading.Lock()  # the numba kernels' buffers serve one frame at a time

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
        with self._lock:
            return self._encode(depth_m, intrinsics, missing, gravity)

    def _encode(self, depth_m, intrinsics, missing, gravity):
        device = depth_m.device
        kernels = (self.numba_kernels if self.numba_kernels is not None and device.type == 'cpu'
                   else self.torch_kernels)
        rays = FitRays.of(intrinsics, depth_m.shape, device)
        inputs = kernels.fit_inputs(depth_m, missing, rays)
        if gravity is None:
            flat, passes = kernels.gravity_normals(inputs)
            gravity = gravity_from_normals(flat, passes, initial=INITIAL_GRAVITY)
        else:
            gravity = np.asarray(gravity, dtype=np.float64)
            gravity = gravity / np.linalg.norm(gravity)
        # Height is y of the points rotated so that gravity maps onto the camera's y axis.
        height_axis = rotation_between(INITIAL_GRAVITY, gravity)[:, 1]
        image = kernels.image(inputs, gravity, height_axis)
        return HhaResult(image=image, gravity=gravity)
