"""HHA stage: depth (+ optional raw depth) and intrinsics in, (H, W, 3) uint8 HHA out."""

import numpy as np
import torch

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.geometry.hha import HhaEncoder
from rgbd_perception.runtime.device import resolve_device
from rgbd_perception.stages.depth_input import depth_to_metres, DepthError, RawDepthError


class HhaStage:
    """
    Gupta's HHA encoding on the chosen device; the one implementation every caller uses.

    device: 'auto', 'cpu', 'cuda' or 'cuda:N'. gravity: optional fixed (3,) direction of
    gravity (down) in the camera optical frame; None estimates it per frame.
    min_valid_fraction: frames with less valid depth are rejected with DepthError.
    compile_kernels: fuse the per-pixel kernels with torch.compile; use_numba: False keeps
    the CPU on the torch kernels instead of the numba ones (see HhaEncoder).
    """

    def __init__(self, device='auto', gravity=None, min_valid_fraction=0.0,
                 compile_kernels=False, use_numba=True):
        self.device = resolve_device(device)
        self.encoder = HhaEncoder(compile_kernels=compile_kernels, use_numba=use_numba)
        if gravity is not None:
            gravity = np.asarray(gravity, dtype=np.float64).reshape(-1)
            if gravity.shape != (3,) or not np.isfinite(gravity).all() or not gravity.any():
                raise ValueError(f'gravity must be 3 finite numbers, not all 0: {gravity}')
        self.gravity = gravity
        self.min_valid_fraction = float(min_valid_fraction)
        self.last_gravity = None

    @torch.inference_mode()
    def __call__(self, depth, intrinsics, raw_depth=None, depth_scale=0.001):
        """
        Encode one frame.

        depth: (H, W) uint16 (units of ``depth_scale`` m) or float (m), 0/NaN = missing.
        raw_depth: optional (H, W) depth of the same kind whose missing pixels define the
        mask for the normal fits (use it when ``depth`` was filled); its problems raise
        RawDepthError, those of ``depth`` DepthError.
        Returns (H, W, 3) uint8 numpy HHA (R disparity, G height, B angle).
        """
        metres = depth_to_metres(depth, depth_scale, self.min_valid_fraction)
        missing = None
        if raw_depth is not None:
            raw_depth = np.asarray(raw_depth)
            if raw_depth.shape != metres.shape:
                raise RawDepthError(f'raw depth shape {raw_depth.shape} != depth shape '
                                    f'{metres.shape}')
            try:
                raw_metres = depth_to_metres(raw_depth, depth_scale)
            except DepthError as exc:
                raise RawDepthError(f'raw depth: {exc}') from exc
            missing = torch.from_numpy(raw_metres == 0).to(self.device)
        return self.on_device(torch.from_numpy(metres).to(self.device), intrinsics,
                              missing).cpu().numpy()

    @torch.inference_mode()
    def on_device(self, metres, intrinsics, missing=None):
        """
        Encode one frame already on the stage's device (the pipeline's shared tensors).

        metres: (H, W) float tensor, 0 = missing, already checked; missing: optional (H, W)
        bool tensor (see HhaEncoder).  Returns the (H, W, 3) uint8 HHA tensor on the device.
        """
        result = self.encoder(metres.double(), intrinsics, missing=missing,
                              gravity=self.gravity)
        self.last_gravity = result.gravity
        return result.image

    def warm_up(self, height=480, width=640):
        """Run one synthetic frame so that the first real frame is not slowed by set-up."""
        rows = np.arange(height, dtype=np.float64)[:, None]
        plane = np.broadcast_to(1.0 + rows / height, (height, width)).copy()
        self(plane, Intrinsics(width, width, width / 2.0, height / 2.0))
