"""
Monocular depth losses of the thesis (seed 002, §5-§7).

Inverse-depth error, the infinity loss, and dynamic loss weighting with one-cycle weight
schedules.
"""

import math

import torch


def one_cycle(progress, start, peak, end, peak_at=0.15):
    """
    Return a one-cycle value at ``progress`` in [0, 1].

    Cosine from start to peak over the first ``peak_at`` of training, then cosine from peak
    to end (as torch's OneCycleLR).
    """
    if progress < peak_at:
        low, high, share = start, peak, progress / peak_at
    else:
        low, high, share = peak, end, (progress - peak_at) / max(1 - peak_at, 1e-9)
    return high + (low - high) * (1 + math.cos(math.pi * min(share, 1.0))) / 2


def inverse_depth_error(prediction, target, valid, kind='mse'):
    """
    Return the mean error of (B, 1, H, W) predicted vs target inverse depth on ``valid``.

    'mse' (the thesis's), or 'log_l1': mean |log prediction - log target| (a relative error,
    weighting far pixels as much as near ones).
    """
    if not valid.any():
        return prediction.sum() * 0.0
    predicted, wanted = prediction[valid], target[valid]
    if kind == 'mse':
        return (predicted - wanted).pow(2).mean()
    if kind == 'log_l1':
        return (predicted.clamp(min=1e-6).log() - wanted.clamp(min=1e-6).log()).abs().mean()
    raise ValueError(f"unknown depth loss {kind!r}, expected 'mse' or 'log_l1'")


def infinity_loss(prediction, sky, valid, threshold):
    """
    Return the thesis's infinity loss (Eq. 5.13) of (B, 1, H, W) inverse depth.

    Sky pixels (no depth: infinitely far) are pushed to 0; measured pixels predicted nearer
    to infinity than ``threshold`` (inverse depth) are pushed up to it.
    """
    too_far = valid & (prediction < threshold)
    terms = torch.cat([prediction[sky], threshold - prediction[too_far]])
    return terms.mean() if len(terms) else prediction.sum() * 0.0


def adjusted(main, secondary):
    """
    Return ``secondary`` rescaled to the magnitude of ``main`` (the thesis's adjust_loss).

    The ratio main / secondary is taken without gradient, so the rescaled loss's gradient
    is the secondary loss's, scaled.
    """
    return secondary * (main.detach() / (secondary.detach() + 1e-5))
