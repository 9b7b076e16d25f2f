"""Zero-padded square window sums (MATLAB ``filter2(ones(2r+1), x)``) on CPU and CUDA."""

import cv2
import numpy as np
import torch


def box_sum(planes, radius):
    """
    Sum every (2r+1) x (2r+1) window of each plane, treating pixels outside as zero.

    planes: (C, H, W) float64 tensor on any device. Returns a new (C, H, W) tensor on the
    same device. On the CPU this uses OpenCV's running-sum box filter, about ten times
    faster on two cores than ``torch.cumsum``; elsewhere it uses :func:`box_sum_cumsum`.
    Both agree to rounding (tested), so the HHA output does not depend on the device.
    """
    if planes.device.type != 'cpu':
        return box_sum_cumsum(planes, radius)
    k = 2 * radius + 1
    src = planes.contiguous().numpy()
    out = np.empty_like(src)
    for plane, sums in zip(src, out):
        cv2.boxFilter(plane, -1, (k, k), dst=sums, normalize=False,
                      borderType=cv2.BORDER_CONSTANT)
    return torch.from_numpy(out)


def box_sum_cumsum(planes, radius):
    """Window sums by prefix sums along W then H; (C, H, W) in, (C, H, W) out."""
    k = 2 * radius + 1
    padded = torch.nn.functional.pad(planes, (radius + 1, radius, radius + 1, radius))
    cols = padded.cumsum(2)
    cols = cols[:, :, k:] - cols[:, :, :-k]
    rows = cols.cumsum(1)
    return rows[:, k:, :] - rows[:, :-k, :]
