"""
Random zoom crops that change the effective focal length, for scale-from-intrinsics training.

A crop of 1 / zoom of the frame, resampled to the output size, is what a camera with a
longer focal length sees; the focal length (pixels at the output resolution) goes with each
sample so that the canonical-camera targets (rgbd_perception.models.mono_depth) stay exact.
"""

import torch
import torch.nn.functional as F


def random_zoom_crop(batch, size, max_zoom=1.5):
    """
    Return the batch zoomed, cropped, flipped left-right at random, resampled to ``size``.

    batch: {'rgb': (B, 3, H, W), 'depth', 'clean': (B, 1, H, W) metres (0 = missing),
    'focal': (B,) pixels at (H, W)}; size: (rows, cols), the aspect of (H, W).  Per sample a
    zoom z in [1, max_zoom] crops a window of (H / z, W / z) at a random place; colour is
    sampled bilinearly, depth at the nearest pixel (holes are not blurred into depth).
    The returned 'focal' is the focal length at ``size``.
    """
    rgb = batch['rgb']
    count, device = len(rgb), rgb.device
    zoom = 1 + (max_zoom - 1) * torch.rand(count, device=device)
    reach = 1 - 1 / zoom
    centre = (2 * torch.rand(2, count, device=device) - 1) * reach
    flip = torch.where(torch.rand(count, device=device) < 0.5, -1.0, 1.0)
    theta = torch.zeros(count, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = flip / zoom, 1 / zoom
    theta[:, 0, 2], theta[:, 1, 2] = centre[0], centre[1]
    grid = F.affine_grid(theta, (count, 1, *size), align_corners=False)
    out = {'rgb': F.grid_sample(rgb, grid, mode='bilinear', padding_mode='border',
                                align_corners=False)}
    for name in ('depth', 'clean'):
        out[name] = F.grid_sample(batch[name], grid, mode='nearest', padding_mode='zeros',
                                  align_corners=False)
    out['focal'] = batch['focal'] * zoom * size[1] / rgb.shape[-1]
    return out


def sparsify(depth, keep_low=0.05, keep_high=1.0):
    """Return (B, 1, H, W) depth keeping a random share in [keep_low, keep_high] per sample."""
    share = keep_low + (keep_high - keep_low) * torch.rand(len(depth), 1, 1, 1,
                                                           device=depth.device)
    return torch.where(torch.rand_like(depth) < share, depth, torch.zeros_like(depth))
