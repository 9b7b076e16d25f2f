"""
Training-time changes of pose crops, on batches: jitter, occluders, depth dropout.

Draws come from torch's global random state (which checkpoints save, so resumed runs repeat
them).  Crops: (B, C, S, S), RGB in [0, 1] first, relative depth
(rgbd_perception.geometry.crops) as channel 3 when present.
"""

import torch

from rgbd_perception.geometry.crops import DEPTH_CLIP
from training.completion.randomise import jitter_colour


def add_occluders(crops, probability=0.5, min_share=0.1, max_share=0.5):
    """
    Return (crops, (B,) bool: which got one, (B, S, S) bool: the pixels it covers).

    Per crop with ``probability``, one occluder: an axis-aligned rectangle covering min_share
    .. max_share of the crop, of one random colour with pixel noise, in front of the object
    (relative depth between -DEPTH_CLIP and -0.5, i.e. 5 to 30 cm nearer than the object).
    """
    batch, channels, size, _ = crops.shape
    draws = torch.rand(batch, 6)
    share = min_share + (max_share - min_share) * draws[:, 0]
    aspect = 0.5 + draws[:, 1]
    height = (size * (share * aspect).sqrt()).clamp(2, size).long()
    width = (size * (share / aspect).sqrt()).clamp(2, size).long()
    top = ((size - height) * draws[:, 2]).long()
    left = ((size - width) * draws[:, 3]).long()
    rows = torch.arange(size)[None, :, None]
    cols = torch.arange(size)[None, None, :]
    inside = (rows >= top[:, None, None]) & (rows < (top + height)[:, None, None]) & \
        (cols >= left[:, None, None]) & (cols < (left + width)[:, None, None])
    occluded = draws[:, 4] < probability
    inside &= occluded[:, None, None]
    colour = torch.rand(batch, 3, 1, 1)
    noisy = (colour + 0.1 * torch.randn(batch, 3, size, size)).clamp(0, 1)
    out = crops.clone()
    out[:, :3] = torch.where(inside[:, None].to(crops.device), noisy.to(crops.device),
                             crops[:, :3])
    if channels == 4:
        depth = (-0.5 - (DEPTH_CLIP - 0.5) * draws[:, 5]).view(-1, 1, 1).to(crops.device)
        out[:, 3] = torch.where(inside.to(crops.device), depth, crops[:, 3])
    return out, occluded.to(crops.device), inside.to(crops.device)


def drop_depth(crops, probability=0.0):
    """
    Return crops whose depth channel is zeroed (all missing) with ``probability`` each.

    A network trained so also runs on colour alone, its depth channel all zeros (the crop
    convention for missing depth): one set of weights for RGB-D and RGB-only input.
    """
    if crops.shape[1] < 4 or probability <= 0:
        return crops
    keep = (torch.rand(len(crops)) >= probability).to(crops.device)
    return torch.cat([crops[:, :3], crops[:, 3:] * keep[:, None, None, None]], dim=1)


def jitter_crops(crops, strength=0.2):
    """Return crops with colour jitter on the RGB channels (depth unchanged)."""
    return torch.cat([jitter_colour(crops[:, :3], strength), crops[:, 3:]], dim=1)
