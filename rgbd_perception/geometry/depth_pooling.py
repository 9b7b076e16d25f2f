"""Downsample sparse depth without letting missing pixels (0) pull the average down."""

import torch.nn.functional as F


def masked_mean_pool(depth, factor):
    """
    Return (B, 1, ceil(H / factor), ceil(W / factor)) mean of the valid depth in each block.

    depth: (B, 1, H, W) float metres, 0 = missing; a block without valid pixels stays 0.
    """
    if factor == 1:
        return depth
    valid = (depth > 0).to(depth.dtype)
    total = F.avg_pool2d(depth * valid, factor, ceil_mode=True)
    count = F.avg_pool2d(valid, factor, ceil_mode=True)
    return total / count.clamp_min(1e-6)
