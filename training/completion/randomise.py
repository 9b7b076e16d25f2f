"""
Training-time randomisation of Vanishing Depth (Koch et al. 2025, section 3.2 and A.3), on batches.

Everything draws from torch's global random state, which checkpoints save and restore, so an
interrupted run resumes bit-identically.  Input batches: rgb (B, 3, H, W) float in [0, 1],
depth (B, 1, H, W) sensor depth and clean (B, 1, H, W) exact depth, float metres, 0 = missing.
"""

import torch

from training.completion.masks import KINDS, noise_field, removal_mask


def random_crop_and_flip(batch, height, width, vertical_flip=0.0):
    """
    Return the batch's tensors cropped to height x width at one random place, maybe flipped.

    Left-right flips happen with probability 0.5, up-down flips with ``vertical_flip``: they
    take away the synthetic rooms' layout prior (far walls in the upper image), which does
    not hold in real rooms, so holes are filled from the depth around them.  Without up-down
    flips no number is drawn for them, so the random stream is the one of the bundled
    weights' training (which predates them).
    """
    full_height, full_width = batch['rgb'].shape[-2:]
    top = int(torch.randint(0, full_height - height + 1, (1,)))
    left = int(torch.randint(0, full_width - width + 1, (1,)))
    flip = bool(torch.rand(()) < 0.5)
    upside_down = vertical_flip > 0 and bool(torch.rand(()) < vertical_flip)
    out = {}
    for name in ('rgb', 'depth', 'clean'):
        crop = batch[name][..., top:top + height, left:left + width]
        crop = crop.flip(-1) if flip else crop
        out[name] = crop.flip(-2) if upside_down else crop
    return out


def jitter_colour(rgb, strength=0.2, grey_probability=0.1):
    """Return (B, 3, H, W) RGB with random brightness, contrast and occasional grey scale."""
    draws = torch.rand(3, rgb.shape[0], 1, 1, 1).to(rgb.device)
    brightness = 1 + strength * (2 * draws[0] - 1)
    contrast = 1 + strength * (2 * draws[1] - 1)
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = ((rgb * brightness - mean) * contrast + mean).clamp(0, 1)
    grey = draws[2] < grey_probability
    return torch.where(grey, rgb.mean(dim=1, keepdim=True).expand_as(rgb), rgb)


def randomise_distribution(depth, clean, bins, metric_probability):
    """
    Return (depth, clean) mapped affinely per sample to a random depth range.

    With probability ``metric_probability`` a sample keeps its metric depth; otherwise its
    clean depth's [min, max] maps to [low, high], two sorted draws from distinct jittered
    bins (``bins``: increasing edges in metres), and the sensor depth follows the same map.
    """
    depth, clean = depth.clone(), clean.clone()
    edges = torch.tensor(bins, dtype=torch.float32)
    for index in range(depth.shape[0]):
        valid = clean[index] > 0
        if torch.rand(()) < metric_probability or valid.sum() < 2:
            continue
        chosen = torch.randperm(len(bins) - 1)[:2].sort().values
        low_edges, high_edges = edges[chosen], edges[chosen + 1]
        low, high = (low_edges + torch.rand(2) * (high_edges - low_edges)).tolist()
        values = clean[index][valid]
        lowest, highest = float(values.min()), float(values.max())
        gain = (high - low) / max(highest - lowest, 1e-3)
        for tensor in (depth, clean):
            has = tensor[index] > 0
            tensor[index][has] = (low + (tensor[index][has] - lowest) * gain).clamp_min(0.05)
    return depth, clean


def removal_fractions(batch, progress, warm_up):
    """
    Return (batch,) fractions of valid depth to remove, in [0.01, 0.99].

    The curriculum of Vanishing Depth: during the first ``warm_up`` share of training the draws
    favour reconstruction (u ** 3, mean 0.25) and move towards balanced (uniform, mean 0.5).
    progress: share of training done, in [0, 1].
    """
    exponent = 1 + 2 * max(0.0, 1 - progress / warm_up) if warm_up > 0 else 1.0
    return (0.01 + 0.98 * torch.rand(batch) ** exponent)


def remove_depth(depth, fractions, kind_weights):
    """Return (input depth with holes, removed mask): kinds drawn per batch by kind_weights."""
    weights = torch.tensor([kind_weights[kind] for kind in KINDS], dtype=torch.float32)
    kind = KINDS[int(torch.multinomial(weights, 1))]
    batch, _, height, width = depth.shape
    noise = noise_field(kind, batch, height, width).to(depth.device)
    removed = removal_mask(noise, depth > 0, fractions)
    return depth.masked_fill(removed, 0.0), removed
