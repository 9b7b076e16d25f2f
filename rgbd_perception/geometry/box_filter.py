"""Zero-padded square window sums (MATLAB ``filter2(ones(2r+1), x)``) on CPU and CUDA."""

from concurrent.futures import ThreadPoolExecutor
import functools

import cv2
import numpy as np
import torch


@functools.lru_cache(maxsize=None)
def _plane_pool(workers):
    """One shared pool per worker count: OpenCV releases the GIL, so planes run in parallel."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix='box_sum')


def box_sum(planes, radius):
    """
    Sum every (2r+1) x (2r+1) window of each plane, treating pixels outside as zero.

    planes: (C, H, W) float64 tensor on any device. Returns a new (C, H, W) tensor on the
    same device. On the CPU this uses OpenCV's running-sum box filter, about ten times
    faster on two cores than ``torch.cumsum``, one plane per thread (torch's thread count);
    elsewhere it uses :func:`box_sum_cumsum`.
    Both agree to rounding (tested), so the HHA output does not depend on the device.
    """
    if planes.device.type != 'cpu':
        return box_sum_cumsum(planes, radius)
    k = 2 * radius + 1
    src = planes.contiguous().numpy()
    out = np.empty_like(src)

    def filter_plane(index):
        cv2.boxFilter(src[index], -1, (k, k), dst=out[index], normalize=False,
                      borderType=cv2.BORDER_CONSTANT)

    workers = max(1, min(len(src), torch.get_num_threads()))
    list(_plane_pool(workers).map(filter_plane, range(len(src))))
    return torch.from_numpy(out)


def box_sum_cumsum(planes, radius):
    """Window sums by prefix sums along W then H; (C, H, W) in, (C, H, W) out."""
    k = 2 * radius + 1
    padded = torch.nn.functional.pad(planes, (radius + 1, radius, radius + 1, radius))
    cols = padded.cumsum(2)
    cols = cols[:, :, k:] - cols[:, :, :-k]
    rows = cols.cumsum(1)
    return rows[:, k:, :] - rows[:, :-k, :]
